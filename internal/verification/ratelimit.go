package verification

import (
	"sync"
	"time"
)

// Limits on failed attempts, each counted in a fixed window that starts at
// the first failure. RFC 8628 section 5.1 recommends rate limits on user
// code entry, because a user code has only about 34 bits of entropy.
const (
	// MaxFailedSignInsPerUser is the number of wrong passwords for one user
	// name, known or not, after which that name is locked for the window.
	MaxFailedSignInsPerUser = 5

	// MaxFailedSignInsPerAddress is the number of failed sign-ins from one
	// client IP address, over all user names, after which that address is
	// locked for the window.
	MaxFailedSignInsPerAddress = 50

	// MaxWrongUserCodesPerUser is the number of unknown, expired or used
	// user codes a signed-in user may submit in the window. It counts per
	// user, not per session, so that signing in again does not reset it.
	MaxWrongUserCodesPerUser = 10

	// RateLimitWindow is how long failures are counted.
	RateLimitWindow = 15 * time.Minute
)

// maxLimiterKeys bounds the memory of one limiter. A full limiter first
// drops windows that have ended, then the oldest window.
const maxLimiterKeys = 10000

// limiter counts failures per key in memory. It is safe for concurrent use.
type limiter struct {
	maxFailures int
	window      time.Duration

	mu      sync.Mutex
	windows map[string]failureWindow
}

type failureWindow struct {
	start    time.Time
	failures int
}

func newLimiter(maxFailures int, window time.Duration) *limiter {
	return &limiter{maxFailures: maxFailures, window: window, windows: make(map[string]failureWindow)}
}

// retryAfter returns how long key stays locked at now, or zero when key may
// try again.
func (l *limiter) retryAfter(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.windows[key]
	if !ok || w.failures < l.maxFailures {
		return 0
	}
	end := w.start.Add(l.window)
	if !now.Before(end) {
		return 0
	}
	return end.Sub(now)
}

// fail records one failure of key at now and reports whether this failure
// locked key.
func (l *limiter) fail(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.windows[key]
	if ok && !now.Before(w.start.Add(l.window)) {
		ok = false
	}
	if !ok {
		l.makeRoom(now)
		w = failureWindow{start: now}
	}
	w.failures++
	l.windows[key] = w
	return w.failures == l.maxFailures
}

// reset deletes the failures of key.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.windows, key)
}

// makeRoom ensures there is space for one more key. The caller holds l.mu.
func (l *limiter) makeRoom(now time.Time) {
	if len(l.windows) < maxLimiterKeys {
		return
	}
	for key, w := range l.windows {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.windows, key)
		}
	}
	if len(l.windows) < maxLimiterKeys {
		return
	}
	// NOTE: evicting the oldest window lets an attacker who fills the table
	// with fresh keys reset an older key's count. The per-address limit
	// still applies to sign-ins from the attacker's own address.
	var oldestKey string
	var oldest time.Time
	found := false
	for key, w := range l.windows {
		if !found || w.start.Before(oldest) {
			oldestKey, oldest, found = key, w.start, true
		}
	}
	delete(l.windows, oldestKey)
}

// len returns the number of keys held, for tests.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.windows)
}
