package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/internal/server"
	"github.com/deviceauth/deviceauth-operator/internal/verification/verificationtest"
)

const (
	testUser         = "dev"
	testPassword     = "dev-password"
	testClientSecret = "ci-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
)

// manifests are the standalone server's objects: a user, a public client
// polling every second, one whose codes expire after 2 seconds (with the
// server's default interval of 1 second), and a confidential client.
const manifests = `
apiVersion: v1
kind: Secret
metadata: {name: users, namespace: default}
stringData:
  htpasswd: |
    %s
---
apiVersion: deviceauth.dev/v1alpha1
kind: DeviceAuthServer
metadata: {name: deviceauth, namespace: default}
spec:
  userAuthentication:
    static: {secretName: users}
  defaults:
    polling: {intervalSeconds: 1}
---
apiVersion: deviceauth.dev/v1alpha1
kind: DeviceAuthClient
metadata: {name: cli, namespace: default}
spec:
  serverRef: {name: deviceauth}
  clientType: Public
  scopes: [openid, profile]
  polling: {intervalSeconds: 1}
---
apiVersion: deviceauth.dev/v1alpha1
kind: DeviceAuthClient
metadata: {name: short, namespace: default}
spec:
  serverRef: {name: deviceauth}
  clientType: Public
  polling: {expiresInSeconds: 2}
---
apiVersion: deviceauth.dev/v1alpha1
kind: DeviceAuthClient
metadata: {name: ci, namespace: default}
spec:
  serverRef: {name: deviceauth}
  clientType: Confidential
  secretName: ci-secret
  polling: {intervalSeconds: 1}
---
apiVersion: v1
kind: Secret
metadata: {name: ci-secret, namespace: default}
stringData:
  clientSecret: %s
`

// startServer runs the real server in standalone mode on a free loopback
// port and returns its issuer.
func startServer(t *testing.T) string {
	t.Helper()
	hash, err := exec.Command("htpasswd", "-nbB", testUser, testPassword).Output()
	if err != nil {
		t.Fatalf("htpasswd -nbB (Debian package apache2-utils): %v", err)
	}
	dir := t.TempDir()
	content := fmt.Sprintf(manifests, strings.TrimSpace(string(hash)), testClientSecret)
	if err := os.WriteFile(filepath.Join(dir, "manifests.yaml"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	issuers := make(chan string, 1)
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = server.Run(ctx, server.Options{
			ManifestsDir: dir,
			Listen:       "127.0.0.1:0",
			AdminListen:  "127.0.0.1:0",
			Storage:      server.StorageMemory,
			Logger:       testr.New(t),
			Listening:    func(_, _ net.Addr, issuer string) { issuers <- issuer },
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if runErr != nil {
			t.Errorf("server: %v", runErr)
		}
	})

	select {
	case issuer := <-issuers:
		return issuer
	case <-done:
		t.Fatal("server did not start")
		return ""
	}
}

// promptWriter collects the CLI's stderr and hands the first
// verification_uri_complete it prints to completeURLs.
type promptWriter struct {
	mu           sync.Mutex
	buf          bytes.Buffer
	sent         bool
	completeURLs chan string
}

var completeURLPattern = regexp.MustCompile(`Or open (\S+), which`)

func newPromptWriter() *promptWriter {
	return &promptWriter{completeURLs: make(chan string, 1)}
}

func (w *promptWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := completeURLPattern.FindStringSubmatch(w.buf.String()); m != nil && !w.sent {
		w.sent = true
		w.completeURLs <- m[1]
	}
	return len(p), nil
}

func (w *promptWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// loginResult is the outcome of one run of deviceauth login.
type loginResult struct {
	code   int
	stdout string
	stderr string
}

// runLoginWith runs deviceauth with args, and decide, when not nil, with
// the verification_uri_complete that it prints, as the person would.
func runLoginWith(t *testing.T, ctx context.Context, args []string, decide func(pageURL string) error) loginResult {
	t.Helper()
	stderr := newPromptWriter()
	var stdout bytes.Buffer
	codes := make(chan int, 1)
	go func() { codes <- run(ctx, args, &stdout, stderr) }()

	if decide != nil {
		select {
		case pageURL := <-stderr.completeURLs:
			if err := decide(pageURL); err != nil {
				t.Errorf("verification page: %v", err)
			}
		case code := <-codes:
			t.Fatalf("deviceauth exited with %d before printing the verification URL:\n%s", code, stderr)
		}
	}
	code := <-codes
	return loginResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func approve(ctx context.Context) func(string) error {
	return func(pageURL string) error {
		return verificationtest.Approve(ctx, &http.Client{}, pageURL, testUser, testPassword)
	}
}

func TestLoginApproved(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	issuer := startServer(t)

	res := runLoginWith(t, ctx, []string{"login", "--issuer", issuer, "--client-id", "cli", "--scopes", "openid profile"}, approve(ctx))

	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stderr).To(MatchRegexp(`To sign in, open %s/device and enter the code [B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}\n`,
		regexp.QuoteMeta(issuer)))
	g.Expect(res.stderr).To(ContainSubstring("Logged in to " + issuer + " as " + testUser + "\n"))
	g.Expect(res.stdout).To(BeEmpty(), "the token is printed only with --print-token")
}

func TestLoginPrintToken(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	issuer := startServer(t)

	res := runLoginWith(t, ctx, []string{"login", "--issuer=" + issuer, "--client-id=cli", "--print-token"}, approve(ctx))
	g.Expect(res.code).To(Equal(0), res.stderr)

	token := strings.TrimSpace(res.stdout)
	g.Expect(strings.Count(token, ".")).To(Equal(2), "stdout is one compact JWT: %q", res.stdout)
	g.Expect(res.stderr).NotTo(ContainSubstring(token), "the token is not on stderr")

	parsed, err := jwt.ParseSigned(token, signatureAlgorithms)
	g.Expect(err).NotTo(HaveOccurred())
	var claims accessTokenClaims
	g.Expect(parsed.UnsafeClaimsWithoutVerification(&claims)).To(Succeed())
	g.Expect(claims.Issuer).To(Equal(issuer))
	g.Expect(claims.Subject).To(Equal(testUser))
	g.Expect(claims.ClientID).To(Equal("cli"))
}

func TestLoginDenied(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	issuer := startServer(t)

	deny := func(pageURL string) error {
		return verificationtest.Deny(ctx, &http.Client{}, pageURL, testUser, testPassword)
	}
	res := runLoginWith(t, ctx, []string{"login", "--issuer", issuer, "--client-id", "cli"}, deny)

	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(HaveSuffix("deviceauth login: login was denied on the verification page\n"))
	g.Expect(res.stderr).NotTo(ContainSubstring("Logged in"))
}

func TestLoginExpired(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	issuer := startServer(t)

	// No one approves or denies, so the 2-second code expires.
	res := runLoginWith(t, ctx, []string{"login", "--issuer", issuer, "--client-id", "short"}, nil)

	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(HaveSuffix(
		"deviceauth login: the code expired before it was approved; run deviceauth login again\n"))
}

func TestLoginCancelled(t *testing.T) {
	g := NewWithT(t)
	issuer := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())

	// Ctrl-C while polling: the cancellation comes once the prompt is out.
	res := runLoginWith(t, ctx, []string{"login", "--issuer", issuer, "--client-id", "cli"}, func(string) error {
		cancel()
		return nil
	})

	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(HaveSuffix("deviceauth login: login cancelled\n"))
}

func TestLoginConfidentialClient(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	issuer := startServer(t)

	t.Setenv(clientSecretEnv, testClientSecret)
	res := runLoginWith(t, ctx, []string{"login", "--issuer", issuer, "--client-id", "ci"}, approve(ctx))
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stderr).To(ContainSubstring("Logged in to " + issuer + " as " + testUser))
	g.Expect(res.stderr).NotTo(ContainSubstring(testClientSecret))

	res = runLoginWith(t, ctx, []string{"login", "--issuer", issuer, "--client-id", "ci", "--client-secret", "wrong"}, nil)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("token request failed: invalid_client"))
}

func TestLoginUnknownClient(t *testing.T) {
	g := NewWithT(t)
	issuer := startServer(t)

	res := runLoginWith(t, context.Background(), []string{"login", "--issuer", issuer, "--client-id", "nobody"}, nil)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("device authorization request failed: invalid_client"))
	g.Expect(res.stderr).NotTo(ContainSubstring("To sign in"))
}

func TestLoginIssuerMismatch(t *testing.T) {
	g := NewWithT(t)
	issuer := startServer(t)
	other := strings.Replace(issuer, "127.0.0.1", "localhost", 1)

	res := runLoginWith(t, context.Background(), []string{"login", "--issuer", other, "--client-id", "cli"}, nil)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring(fmt.Sprintf("names issuer %q, not %q", issuer, other)))
}

func TestLoginUnreachableIssuer(t *testing.T) {
	g := NewWithT(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	issuer := "http://" + l.Addr().String()
	g.Expect(l.Close()).To(Succeed())

	res := runLoginWith(t, context.Background(), []string{"login", "--issuer", issuer, "--client-id", "cli"}, nil)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("reading metadata of issuer " + issuer + ": cannot reach the server"))
}

func TestLoginUsageErrors(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()

	res := runLoginWith(t, ctx, []string{"login", "--client-id", "cli"}, nil)
	g.Expect(res.code).To(Equal(2))
	g.Expect(res.stderr).To(ContainSubstring("--issuer and --client-id are required"))

	res = runLoginWith(t, ctx, []string{"logout"}, nil)
	g.Expect(res.code).To(Equal(2))
	g.Expect(res.stderr).To(ContainSubstring(`unknown command "logout"`))

	res = runLoginWith(t, ctx, []string{"login", "--issuer", "http://auth.example.com", "--client-id", "cli"}, nil)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("plain http is allowed only for loopback addresses"))
}

// TestVerifyAccessToken runs verifyAccessToken on a real token from the
// server and on forgeries of it.
func TestVerifyAccessToken(t *testing.T) {
	ctx := context.Background()
	issuer := startServer(t)
	res := runLoginWith(t, ctx, []string{"login", "--issuer", issuer, "--client-id", "cli", "--print-token"}, approve(ctx))
	if res.code != 0 {
		t.Fatalf("login failed: %s", res.stderr)
	}
	token := strings.TrimSpace(res.stdout)

	client := &http.Client{}
	issuerURL, err := parseIssuer(issuer)
	if err != nil {
		t.Fatal(err)
	}
	md, err := fetchMetadata(ctx, client, issuerURL, issuer)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(token, signatureAlgorithms)
	if err != nil {
		t.Fatal(err)
	}
	var claims accessTokenClaims
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	kid := parsed.Headers[0].KeyID

	t.Run("valid token", func(t *testing.T) {
		g := NewWithT(t)
		got, err := verifyAccessToken(ctx, client, md, "cli", token, time.Now())
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got.Subject).To(Equal(testUser))
	})
	t.Run("other audience", func(t *testing.T) {
		g := NewWithT(t)
		_, err := verifyAccessToken(ctx, client, md, "someone-else", token, time.Now())
		g.Expect(err).To(MatchError(ContainSubstring("invalid audience")))
	})
	t.Run("expired", func(t *testing.T) {
		g := NewWithT(t)
		_, err := verifyAccessToken(ctx, client, md, "cli", token, claims.Expiry.Time().Add(time.Second))
		g.Expect(err).To(MatchError(ContainSubstring("token is expired")))
	})
	t.Run("signed by another key", func(t *testing.T) {
		g := NewWithT(t)
		forged := signToken(t, kid, "at+jwt", claims)
		_, err := verifyAccessToken(ctx, client, md, "cli", forged, time.Now())
		g.Expect(err).To(MatchError(ContainSubstring("signature does not verify")))
	})
	t.Run("unknown key id", func(t *testing.T) {
		g := NewWithT(t)
		forged := signToken(t, "not-published", "at+jwt", claims)
		_, err := verifyAccessToken(ctx, client, md, "cli", forged, time.Now())
		g.Expect(err).To(MatchError(ContainSubstring(`no signing key with kid "not-published"`)))
	})
	t.Run("wrong type", func(t *testing.T) {
		g := NewWithT(t)
		forged := signToken(t, kid, "JWT", claims)
		_, err := verifyAccessToken(ctx, client, md, "cli", forged, time.Now())
		g.Expect(err).To(MatchError(ContainSubstring(`typ "JWT"`)))
	})
}

// signToken signs claims with a new RSA key that the server does not know.
func signToken(t *testing.T, kid, typ string, claims accessTokenClaims) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
	)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}
