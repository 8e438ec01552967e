// Package logtest captures what code under test logs through logr, for
// tests that check a line was written or that no secret was.
package logtest

import (
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// Recorder collects log lines from any number of goroutines.
type Recorder struct {
	mu    sync.Mutex
	lines []string
}

// New returns a Recorder and a logger that writes to it, with V-levels up
// to verbosity enabled.
func New(verbosity int) (*Recorder, logr.Logger) {
	r := &Recorder{}
	return r, funcr.New(r.write, funcr.Options{Verbosity: verbosity})
}

func (r *Recorder) write(prefix, args string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, prefix+" "+args)
}

// String returns every line so far, one a line.
func (r *Recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}
