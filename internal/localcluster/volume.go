package localcluster

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// dataDirName is the symlink that kubelet swaps to update a Secret or
// ConfigMap volume. Every visible file is a symlink through it.
const dataDirName = "..data"

// VolumeDir writes files into a directory the way kubelet's atomic writer
// updates Secret and ConfigMap volumes, so that the server's file watching
// gets the same events as in a cluster. The layout is
//
//	dir/..2006_01_02_15_04_05.000000001/key   the files of one version
//	dir/..data -> ..2006_01_02_15_04_05.000000001
//	dir/key -> ..data/key                      one symlink per top-level name
//
// Write puts a new version in a fresh timestamped directory, then replaces
// ..data in one rename(2), so a reader sees either the old set of files or
// the new one, never a mix.
type VolumeDir struct {
	// Path is the volume's directory, the container's mount path under the
	// runner's root.
	Path string

	// Mode is the permission of each file. Zero means 0644, kubelet's
	// defaultMode.
	Mode fs.FileMode
}

// Write replaces the volume's content with files, whose keys are relative
// slash-separated paths. It does nothing when the content is unchanged, and
// reports whether it changed anything.
func (v *VolumeDir) Write(files map[string][]byte) (bool, error) {
	if err := validateKeys(files); err != nil {
		return false, err
	}
	if err := os.MkdirAll(v.Path, 0o755); err != nil {
		return false, fmt.Errorf("creating volume directory: %w", err)
	}
	oldVersion, err := os.Readlink(filepath.Join(v.Path, dataDirName))
	if err != nil && !os.IsNotExist(err) {
		return false, fmt.Errorf("reading %s link: %w", dataDirName, err)
	}
	if oldVersion != "" && v.matches(filepath.Join(v.Path, oldVersion), files) {
		return false, nil
	}

	newVersion, err := v.writeVersion(files)
	if err != nil {
		return false, err
	}
	if err := v.swapDataLink(newVersion); err != nil {
		return false, err
	}
	if err := v.updateUserLinks(files); err != nil {
		return false, err
	}
	if oldVersion != "" && oldVersion != newVersion {
		if err := os.RemoveAll(filepath.Join(v.Path, oldVersion)); err != nil {
			return false, fmt.Errorf("removing old volume version: %w", err)
		}
	}
	return true, nil
}

func validateKeys(files map[string][]byte) error {
	for key := range files {
		clean := filepath.Clean(filepath.FromSlash(key))
		if key == "" || filepath.IsAbs(clean) || clean == "." || clean == ".." ||
			strings.HasPrefix(clean, ".."+string(filepath.Separator)) || strings.HasPrefix(key, "..") {
			return fmt.Errorf("invalid volume key %q", key)
		}
	}
	return nil
}

// matches reports whether version contains exactly files with v's mode.
func (v *VolumeDir) matches(version string, files map[string][]byte) bool {
	count := 0
	err := filepath.WalkDir(version, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(version, path)
		if err != nil {
			return err
		}
		want, ok := files[filepath.ToSlash(rel)]
		if !ok {
			return fs.ErrNotExist
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) || info.Mode().Perm() != v.mode() {
			return fs.ErrNotExist
		}
		count++
		return nil
	})
	return err == nil && count == len(files)
}

func (v *VolumeDir) mode() fs.FileMode {
	if v.Mode == 0 {
		return 0o644
	}
	return v.Mode.Perm()
}

// writeVersion writes files into a new timestamped directory and returns
// its name relative to v.Path.
func (v *VolumeDir) writeVersion(files map[string][]byte) (string, error) {
	prefix := ".." + time.Now().UTC().Format("2006_01_02_15_04_05.")
	dir, err := os.MkdirTemp(v.Path, prefix)
	if err != nil {
		return "", fmt.Errorf("creating volume version: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating volume version: %w", err)
	}
	for key, data := range files {
		path := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", fmt.Errorf("writing volume file %s: %w", key, err)
		}
		if err := os.WriteFile(path, data, v.mode()); err != nil {
			return "", fmt.Errorf("writing volume file %s: %w", key, err)
		}
		// WriteFile applies the umask; the mode must be exact.
		if err := os.Chmod(path, v.mode()); err != nil {
			return "", fmt.Errorf("writing volume file %s: %w", key, err)
		}
	}
	return filepath.Base(dir), nil
}

// swapDataLink points ..data at version by renaming a new symlink over it.
func (v *VolumeDir) swapDataLink(version string) error {
	tmp := filepath.Join(v.Path, dataDirName+"_tmp")
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing stale %s_tmp link: %w", dataDirName, err)
	}
	if err := os.Symlink(version, tmp); err != nil {
		return fmt.Errorf("creating %s_tmp link: %w", dataDirName, err)
	}
	if err := os.Rename(tmp, filepath.Join(v.Path, dataDirName)); err != nil {
		return fmt.Errorf("swapping %s link: %w", dataDirName, err)
	}
	return nil
}

// updateUserLinks creates a name -> ..data/name symlink for each top-level
// name in files and removes the links of names that are gone.
func (v *VolumeDir) updateUserLinks(files map[string][]byte) error {
	want := make(map[string]bool)
	for key := range files {
		top, _, _ := strings.Cut(key, "/")
		want[top] = true
	}

	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		link := filepath.Join(v.Path, name)
		target := filepath.Join(dataDirName, name)
		if current, err := os.Readlink(link); err == nil && current == target {
			continue
		}
		if err := os.RemoveAll(link); err != nil {
			return fmt.Errorf("replacing volume link %s: %w", name, err)
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("creating volume link %s: %w", name, err)
		}
	}

	entries, err := os.ReadDir(v.Path)
	if err != nil {
		return fmt.Errorf("listing volume directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") || want[e.Name()] {
			continue
		}
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		if err := os.Remove(filepath.Join(v.Path, e.Name())); err != nil {
			return fmt.Errorf("removing volume link %s: %w", e.Name(), err)
		}
	}
	return nil
}
