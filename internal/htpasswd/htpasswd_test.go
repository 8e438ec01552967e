package htpasswd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"golang.org/x/crypto/bcrypt"

	"github.com/deviceauth/deviceauth-operator/internal/htpasswd"
)

// htpasswdTool is Debian's apache2-utils binary. The tests fail without it,
// because a file written by the real tool is the case that matters.
const htpasswdTool = "/usr/bin/htpasswd"

// runHtpasswd runs the real htpasswd tool and returns its standard output.
func runHtpasswd(t *testing.T, args ...string) []byte {
	t.Helper()
	if _, err := os.Stat(htpasswdTool); err != nil {
		t.Fatalf("%s is missing (apt-get install -y apache2-utils): %v", htpasswdTool, err)
	}
	out, err := exec.Command(htpasswdTool, args...).Output()
	if err != nil {
		t.Fatalf("htpasswd %v: %v", args, err)
	}
	return out
}

func TestParseRealHtpasswdFile(t *testing.T) {
	g := NewWithT(t)
	path := filepath.Join(t.TempDir(), "htpasswd")
	runHtpasswd(t, "-c", "-B", "-b", path, "alice", "correct horse")
	runHtpasswd(t, "-B", "-b", "-C", "4", path, "bob", "p:ss word")
	data, err := os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(data)).To(ContainSubstring("alice:$2y$"))

	users, err := htpasswd.Parse(data)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(users.Len()).To(Equal(2))
	g.Expect(users.Authenticate("alice", "correct horse")).To(BeTrue())
	g.Expect(users.Authenticate("bob", "p:ss word")).To(BeTrue())
	g.Expect(users.Authenticate("alice", "correct horse ")).To(BeFalse())
	g.Expect(users.Authenticate("alice", "p:ss word")).To(BeFalse())
	g.Expect(users.Authenticate("Alice", "correct horse")).To(BeFalse())
	g.Expect(users.Authenticate("carol", "correct horse")).To(BeFalse())
	g.Expect(users.Authenticate("", "")).To(BeFalse())
}

func TestParseHtpasswdStdoutWithTrailingBlankLine(t *testing.T) {
	g := NewWithT(t)
	// htpasswd -n prints the line followed by an empty line.
	data := runHtpasswd(t, "-n", "-b", "-B", "alice", "secret")
	g.Expect(string(data)).To(HaveSuffix("\n\n"))

	users, err := htpasswd.Parse(data)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(users.Len()).To(Equal(1))
	g.Expect(users.Authenticate("alice", "secret")).To(BeTrue())
}

func TestParseBcryptVariantsFromGo(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// x/crypto writes $2a$. The other prefixes differ only in that byte.
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		t.Run(prefix, func(t *testing.T) {
			g := NewWithT(t)
			line := "carol:" + prefix + string(hash[4:]) + "\n"
			users, err := htpasswd.Parse([]byte(line))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(users.Authenticate("carol", "s3cret")).To(BeTrue())
			g.Expect(users.Authenticate("carol", "s3cret!")).To(BeFalse())
		})
	}
}

func TestParseSkipsBlankLinesCommentsAndCRLF(t *testing.T) {
	g := NewWithT(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	g.Expect(err).NotTo(HaveOccurred())
	data := "# developers\r\n\r\n   \r\ndave:" + string(hash) + "\r\n  # end\r\n"

	users, err := htpasswd.Parse([]byte(data))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(users.Len()).To(Equal(1))
	g.Expect(users.Contains("dave")).To(BeTrue())
	g.Expect(users.Contains("# developers")).To(BeFalse())
	g.Expect(users.Authenticate("dave", "pw")).To(BeTrue())
}

func TestParseEmptyFileAuthenticatesNoOne(t *testing.T) {
	g := NewWithT(t)
	users, err := htpasswd.Parse(nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(users.Len()).To(Equal(0))
	g.Expect(users.Authenticate("alice", "")).To(BeFalse())
}

func TestParseRejectsOtherHashSchemes(t *testing.T) {
	bcryptLine := strings.TrimSpace(string(runHtpasswd(t, "-n", "-b", "-B", "alice", "a")))
	cases := []struct {
		name string
		line string
	}{
		{"apr1 md5", strings.TrimSpace(string(runHtpasswd(t, "-n", "-b", "-m", "bob", "b")))},
		{"sha1", strings.TrimSpace(string(runHtpasswd(t, "-n", "-b", "-s", "bob", "b")))},
		{"plain text", "bob:b"},
		{"empty hash", "bob:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			data := "# team\n" + bcryptLine + "\n" + tc.line + "\n"
			_, err := htpasswd.Parse([]byte(data))
			g.Expect(err).To(MatchError(
				"line 3 (user bob): only bcrypt hashes ($2y$) are supported; recreate it with htpasswd -B"))
		})
	}
}

func TestParseRejectsMalformedLines(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		data    string
		message string
	}{
		{"no colon", "alice\n", "line 1: invalid entry, expected user:hash"},
		{"no user", ":" + string(hash) + "\n", "line 1: invalid entry, expected user:hash"},
		{"truncated bcrypt hash", "alice:$2y$05$abc\n", "line 1 (user alice): invalid bcrypt hash"},
		{
			"duplicate user",
			"alice:" + string(hash) + "\n\nalice:" + string(hash) + "\n",
			"line 3 (user alice): user already defined on line 1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := htpasswd.Parse([]byte(tc.data))
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(HavePrefix(tc.message))
		})
	}
}

func TestNilUsersAuthenticatesNoOne(t *testing.T) {
	g := NewWithT(t)
	var users *htpasswd.Users
	g.Expect(users.Authenticate("alice", "pw")).To(BeFalse())
	g.Expect(users.Contains("alice")).To(BeFalse())
	g.Expect(users.Len()).To(Equal(0))
}

func TestStringShowsNoHash(t *testing.T) {
	g := NewWithT(t)
	line := strings.TrimSpace(string(runHtpasswd(t, "-n", "-b", "-B", "alice", "a")))
	users, err := htpasswd.Parse([]byte(line))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(users.String()).To(Equal("htpasswd.Users(len=1)"))
}
