package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/internal/store"
	"github.com/deviceauth/deviceauth-operator/internal/store/storetest"
)

func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return store.NewMemory() })
}

// manualClock is a clock that moves only when the test sets it.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newAuthorization(hash, userCode string, created time.Time) store.Authorization {
	return store.Authorization{
		DeviceCodeHash: hash,
		UserCode:       userCode,
		ClientID:       "cli",
		CreatedAt:      created,
		ExpiresAt:      created.Add(5 * time.Minute),
		Interval:       5 * time.Second,
	}
}

func TestMemoryBackgroundSweep(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := &manualClock{now: base}
	ticks := make(chan time.Time)
	m := store.NewMemory(store.WithClock(clock.Now), store.WithSweepTicks(ticks))
	defer m.Close()

	early := newAuthorization("hash-early", "BCDFGHJK", base)
	late := newAuthorization("hash-late", "BCDFGHJL", base.Add(time.Minute))
	g.Expect(m.Create(ctx, early)).To(Succeed())
	g.Expect(m.Create(ctx, late)).To(Succeed())

	// Two sends on an unbuffered channel: the second returns only after
	// the sweep for the first has finished.
	sweep := func() {
		ticks <- time.Time{}
		ticks <- time.Time{}
	}

	clock.Set(early.ForgetAt().Add(-time.Nanosecond))
	sweep()
	g.Expect(m.Len()).To(Equal(2))

	clock.Set(early.ForgetAt())
	sweep()
	g.Expect(m.Len()).To(Equal(1))
	_, err := m.LookupUserCode(ctx, early.UserCode)
	g.Expect(err).To(MatchError(store.ErrNotFound))
	_, err = m.LookupUserCode(ctx, late.UserCode)
	g.Expect(err).NotTo(HaveOccurred())

	clock.Set(late.ForgetAt())
	sweep()
	g.Expect(m.Len()).To(Equal(0))
}

func TestMemoryWritesSweep(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := store.NewMemory(store.WithSweepTicks(make(chan time.Time)))
	defer m.Close()

	old := newAuthorization("hash-old", "BCDFGHJK", base)
	g.Expect(m.Create(ctx, old)).To(Succeed())
	fresh := newAuthorization("hash-fresh", "BCDFGHJL", old.ForgetAt())
	g.Expect(m.Create(ctx, fresh)).To(Succeed())
	g.Expect(m.Len()).To(Equal(1))

	_, err := m.Poll(ctx, fresh.DeviceCodeHash, "cli", fresh.ForgetAt())
	g.Expect(err).To(MatchError(store.ErrNotFound))
	g.Expect(m.Len()).To(Equal(0))
}

func TestMemoryCreateRejectsInvalid(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	valid := newAuthorization("hash", "BCDFGHJK", base)
	cases := []struct {
		name   string
		mutate func(*store.Authorization)
	}{
		{"NoDeviceCodeHash", func(a *store.Authorization) { a.DeviceCodeHash = "" }},
		{"NoUserCode", func(a *store.Authorization) { a.UserCode = "" }},
		{"NoClientID", func(a *store.Authorization) { a.ClientID = "" }},
		{"ExpiresAtCreation", func(a *store.Authorization) { a.ExpiresAt = a.CreatedAt }},
		{"ZeroInterval", func(a *store.Authorization) { a.Interval = 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			m := store.NewMemory()
			defer m.Close()
			a := valid
			tc.mutate(&a)
			g.Expect(m.Create(context.Background(), a)).NotTo(Succeed())
			g.Expect(m.Len()).To(Equal(0))
		})
	}
}

func TestMemoryClosed(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	base := time.Now()
	m := store.NewMemory()
	a := newAuthorization("hash", "BCDFGHJK", base)
	g.Expect(m.Create(ctx, a)).To(Succeed())

	g.Expect(m.Close()).To(Succeed())
	g.Expect(m.Close()).To(Succeed())

	g.Expect(m.Ping(ctx)).NotTo(Succeed())
	_, err := m.Poll(ctx, a.DeviceCodeHash, a.ClientID, base)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err).NotTo(MatchError(store.ErrNotFound))
	g.Expect(m.Create(ctx, newAuthorization("other", "BCDFGHJL", base))).NotTo(Succeed())
	g.Expect(m.Approve(ctx, a.UserCode, "alice", base)).NotTo(Succeed())
	_, err = m.LookupUserCode(ctx, a.UserCode)
	g.Expect(err).To(HaveOccurred())
}
