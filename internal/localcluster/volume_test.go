package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// versionDirs lists the timestamped version directories in dir.
func versionDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "..") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestVolumeDirLayout(t *testing.T) {
	g := NewWithT(t)
	dir := filepath.Join(t.TempDir(), "etc", "deviceauth", "keys")
	v := VolumeDir{Path: dir}

	changed, err := v.Write(map[string][]byte{
		"signing-key.pem": []byte("key one"),
		"nested/file":     []byte("nested"),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeTrue())

	versions := versionDirs(t, dir)
	g.Expect(versions).To(HaveLen(1))
	g.Expect(versions[0]).To(MatchRegexp(`^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$`))

	data, err := os.Readlink(filepath.Join(dir, "..data"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(data).To(Equal(versions[0]), "..data points at the version directory by relative name")

	link, err := os.Readlink(filepath.Join(dir, "signing-key.pem"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(link).To(Equal(filepath.Join("..data", "signing-key.pem")))

	nested, err := os.Readlink(filepath.Join(dir, "nested"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(nested).To(Equal(filepath.Join("..data", "nested")), "a nested key gets one top-level link")

	content, err := os.ReadFile(filepath.Join(dir, "signing-key.pem"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(content)).To(Equal("key one"))

	content, err = os.ReadFile(filepath.Join(dir, "nested", "file"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(content)).To(Equal("nested"))

	info, err := os.Stat(filepath.Join(dir, "signing-key.pem"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o644)))
}

func TestVolumeDirSwap(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	v := VolumeDir{Path: dir, Mode: 0o400}

	_, err := v.Write(map[string][]byte{"config.json": []byte("v1"), "old-key": []byte("gone soon")})
	g.Expect(err).NotTo(HaveOccurred())
	first := versionDirs(t, dir)
	g.Expect(first).To(HaveLen(1))

	// A reader that opened the old file keeps reading the old content, as
	// with kubelet: the swap replaces the link, not the file.
	openFile, err := os.Open(filepath.Join(dir, "config.json"))
	g.Expect(err).NotTo(HaveOccurred())
	defer openFile.Close()

	changed, err := v.Write(map[string][]byte{"config.json": []byte("v2"), "new-key": []byte("new")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeTrue())

	second := versionDirs(t, dir)
	g.Expect(second).To(HaveLen(1), "the old version directory is removed")
	g.Expect(second[0]).NotTo(Equal(first[0]), "the new version is a new directory")

	data, err := os.Readlink(filepath.Join(dir, "..data"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(data).To(Equal(second[0]))

	content, err := os.ReadFile(filepath.Join(dir, "config.json"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(content)).To(Equal("v2"))

	content, err = os.ReadFile(filepath.Join(dir, "new-key"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(content)).To(Equal("new"))

	_, err = os.Lstat(filepath.Join(dir, "old-key"))
	g.Expect(os.IsNotExist(err)).To(BeTrue(), "the link of a removed key is removed: %v", err)

	_, err = os.Lstat(filepath.Join(dir, "..data_tmp"))
	g.Expect(os.IsNotExist(err)).To(BeTrue(), "no temporary link is left: %v", err)

	oldContent := make([]byte, 16)
	n, err := openFile.Read(oldContent)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(oldContent[:n])).To(Equal("v1"))

	info, err := os.Stat(filepath.Join(dir, "config.json"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o400)))
}

func TestVolumeDirUnchanged(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	v := VolumeDir{Path: dir}
	files := map[string][]byte{"a": []byte("1"), "b": []byte("2")}

	_, err := v.Write(files)
	g.Expect(err).NotTo(HaveOccurred())
	before := versionDirs(t, dir)

	changed, err := v.Write(files)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeFalse())
	g.Expect(versionDirs(t, dir)).To(Equal(before), "an unchanged write keeps the version")

	changed, err = v.Write(map[string][]byte{"a": []byte("1")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeTrue(), "dropping a key is a change")
}

func TestVolumeDirEmpty(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	v := VolumeDir{Path: dir}

	changed, err := v.Write(map[string][]byte{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeTrue(), "the first write creates ..data even with no keys")

	_, err = os.Readlink(filepath.Join(dir, "..data"))
	g.Expect(err).NotTo(HaveOccurred())

	changed, err = v.Write(nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeFalse())
}

func TestVolumeDirRejectsBadKeys(t *testing.T) {
	for _, key := range []string{"", "..data", "../escape", "/abs", "a/../../b", "."} {
		t.Run(key, func(t *testing.T) {
			g := NewWithT(t)
			v := VolumeDir{Path: t.TempDir()}
			_, err := v.Write(map[string][]byte{key: []byte("x")})
			g.Expect(err).To(MatchError(ContainSubstring("invalid volume key")))
		})
	}
}
