// Package filewatch reports changes to the files in a set of directories.
// It also detects the way kubelet updates a mounted Secret. Kubelet writes the
// new content into a fresh timestamped directory and then atomically
// renames a `..data` symlink to point at it, so the files' own paths never
// change.
package filewatch

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
)

// Options tunes a Watcher. The zero value is ready to use.
type Options struct {
	// Debounce is how long the watcher waits after an event for more events
	// before it calls back, so that one symlink swap (several events) makes
	// one call. Default 100ms.
	Debounce time.Duration

	// Resync is how often the watcher re-reads the files even without an
	// event, as a safety net for file systems that send none (some network
	// and overlay mounts). Default 30s.
	Resync time.Duration
}

// Start calls onChange each time the content of a file directly in one of
// dirs changes, following symlinks, until ctx ends. It compares content
// digests, so an event that changes nothing, or a resync, makes no call. A
// directory that does not exist yet is watched once it appears on a later
// resync. The files as they are when Start returns are the baseline; the
// returned channel closes once the watcher has stopped after ctx ended.
func Start(ctx context.Context, dirs []string, opts Options, onChange func()) (<-chan struct{}, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = 100 * time.Millisecond
	}
	if opts.Resync <= 0 {
		opts.Resync = 30 * time.Second
	}
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("starting file watcher: %w", err)
	}
	w := &dirWatcher{
		dirs:     dirs,
		opts:     opts,
		fs:       watcher,
		watched:  map[string]bool{},
		onChange: onChange,
		log:      logr.FromContextOrDiscard(ctx),
	}
	w.addDirs()
	w.last = digest(dirs)

	done := make(chan struct{})
	go func() {
		defer close(done)
		defer watcher.Close()
		w.run(ctx)
	}()
	return done, nil
}

type dirWatcher struct {
	dirs     []string
	opts     Options
	fs       *fsnotify.Watcher
	watched  map[string]bool
	last     [sha256.Size]byte
	onChange func()
	log      logr.Logger
}

// addDirs watches the directories that exist and are not watched yet.
func (w *dirWatcher) addDirs() {
	for _, dir := range w.dirs {
		if w.watched[dir] {
			continue
		}
		if err := w.fs.Add(dir); err == nil {
			w.watched[dir] = true
		}
	}
}

func (w *dirWatcher) check() {
	if current := digest(w.dirs); current != w.last {
		w.last = current
		w.onChange()
	}
}

func (w *dirWatcher) run(ctx context.Context) {
	resync := time.NewTicker(w.opts.Resync)
	defer resync.Stop()
	var debounce <-chan time.Time

	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.fs.Events:
			if !ok {
				return
			}
			debounce = time.After(w.opts.Debounce)
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.log.Error(err, "File watch failed; relying on the periodic resync", "dirs", w.dirs)
		case <-debounce:
			debounce = nil
			w.check()
		case <-resync.C:
			w.addDirs()
			w.check()
		}
	}
}

// digest hashes the names and contents of the regular files (followed
// through symlinks) directly in dirs, skipping kubelet's dot-dot entries,
// whose content the visible symlinks already cover.
func digest(dirs []string) [sha256.Size]byte {
	h := sha256.New()
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			h.Write([]byte("missing:" + dir + "\x00"))
			continue
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			if len(e.Name()) >= 2 && e.Name()[:2] == ".." {
				continue
			}
			names = append(names, e.Name())
		}
		slices.Sort(names)
		for _, name := range names {
			path := filepath.Join(dir, name)
			info, err := os.Stat(path)
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			data, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			h.Write([]byte(path + "\x00"))
			h.Write(data)
			h.Write([]byte{0})
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
