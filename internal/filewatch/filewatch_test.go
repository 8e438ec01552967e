package filewatch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// secretVolume lays out a directory the way kubelet writes a Secret volume:
// each key is a symlink to ..data/key, and ..data is a symlink to a
// timestamped directory holding the real files.
type secretVolume struct {
	t       *testing.T
	dir     string
	version int
}

func (v *secretVolume) write(files map[string]string) {
	v.t.Helper()
	v.version++
	ts := fmt.Sprintf("..2026_12_04_00_00_%02d.%d", v.version, v.version)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		v.t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(v.dir, ts, name), []byte(content), 0o644); err != nil {
			v.t.Fatal(err)
		}
	}
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(v.dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				v.t.Fatal(err)
			}
		}
	}
}

func startWatch(t *testing.T, dirs []string, opts Options) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan struct{}, 16)
	done, err := Start(ctx, dirs, opts, func() { changes <- struct{}{} })
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { cancel(); <-done })
	return changes
}

func expectChange(t *testing.T, changes <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatalf("no change reported after %s", what)
	}
}

func expectNoChange(t *testing.T, changes <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-changes:
		t.Fatalf("change reported after %s, which changed no content", what)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestWatchSeesKubeletSymlinkSwap(t *testing.T) {
	vol := &secretVolume{t: t, dir: t.TempDir()}
	vol.write(map[string]string{"config.json": `{"v":1}`})
	changes := startWatch(t, []string{vol.dir}, Options{Debounce: 20 * time.Millisecond})

	vol.write(map[string]string{"config.json": `{"v":2}`})
	expectChange(t, changes, "the ..data swap")

	vol.write(map[string]string{"config.json": `{"v":2}`})
	expectNoChange(t, changes, "a swap to identical content")

	vol.write(map[string]string{"config.json": `{"v":3}`})
	expectChange(t, changes, "a second swap")
}

func TestWatchPlainFileWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	changes := startWatch(t, []string{dir}, Options{Debounce: 20 * time.Millisecond})
	if err := os.WriteFile(path, []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	expectChange(t, changes, "rewriting a file")
}

func TestWatchDirectoryCreatedLater(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	changes := startWatch(t, []string{dir}, Options{Debounce: 20 * time.Millisecond, Resync: 50 * time.Millisecond})
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	expectChange(t, changes, "creating the directory and a file")
}
