// Package storetest is the contract suite that every store.Store backend
// passes. A backend's test calls Run with a constructor for empty stores.
//
// The suite passes every time explicitly (the now arguments and each
// authorization's CreatedAt), anchored near the real time so that a
// backend whose LookupUserCode forgets on its own clock still finds live
// authorizations.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/internal/store"
)

// Shape of the authorizations the suite creates.
const (
	lifetime = 10 * time.Minute
	interval = 5 * time.Second
	clientA  = "client-a"
	clientB  = "client-b"
)

// Run runs the contract suite. newStore returns an empty store for one
// subtest; Run closes it when the subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	open := func(t *testing.T) store.Store {
		s := newStore(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, open(t)) })
	t.Run("LookupUnknown", func(t *testing.T) { testLookupUnknown(t, open(t)) })
	t.Run("UserCodeTaken", func(t *testing.T) { testUserCodeTaken(t, open(t)) })
	t.Run("UserCodeTakenUntilForgotten", func(t *testing.T) { testUserCodeTakenUntilForgotten(t, open(t)) })
	t.Run("DuplicateDeviceCode", func(t *testing.T) { testDuplicateDeviceCode(t, open(t)) })
	t.Run("Deny", func(t *testing.T) { testDeny(t, open(t)) })
	t.Run("DecideOnlyFromPending", func(t *testing.T) { testDecideOnlyFromPending(t, open) })
	t.Run("DecideUnknown", func(t *testing.T) { testDecideUnknown(t, open(t)) })
	t.Run("DecideExpired", func(t *testing.T) { testDecideExpired(t, open(t)) })
	t.Run("DecideForgotten", func(t *testing.T) { testDecideForgotten(t, open(t)) })
	t.Run("PollUnknown", func(t *testing.T) { testPollUnknown(t, open(t)) })
	t.Run("ExpiryAndForgetTimes", func(t *testing.T) { testExpiryAndForgetTimes(t, open(t)) })
	t.Run("WrongClientChangesNothing", func(t *testing.T) { testWrongClientChangesNothing(t, open(t)) })
	t.Run("WrongClientBeforeExpiry", func(t *testing.T) { testWrongClientBeforeExpiry(t, open(t)) })
	t.Run("ExpiryBeforeState", func(t *testing.T) { testExpiryBeforeState(t, open(t)) })
	t.Run("StateBeforeRate", func(t *testing.T) { testStateBeforeRate(t, open(t)) })
	t.Run("Rate", func(t *testing.T) { testRate(t, open) })
	t.Run("RateIsPerDeviceCode", func(t *testing.T) { testRateIsPerDeviceCode(t, open(t)) })
	t.Run("ConcurrentRedeem", func(t *testing.T) { testConcurrentRedeem(t, open(t)) })
	t.Run("ConcurrentApprove", func(t *testing.T) { testConcurrentApprove(t, open(t)) })
	t.Run("CopySemantics", func(t *testing.T) { testCopySemantics(t, open(t)) })
	t.Run("Ping", func(t *testing.T) { NewWithT(t).Expect(open(t).Ping(context.Background())).To(Succeed()) })
}

// fixture creates authorizations on one store with distinct codes.
type fixture struct {
	t     *testing.T
	s     store.Store
	base  time.Time
	count int
}

func newFixture(t *testing.T, s store.Store) *fixture {
	return &fixture{t: t, s: s, base: time.Now().Truncate(time.Second)}
}

// authorization returns an authorization of clientA created at created.
func (f *fixture) authorization(created time.Time) store.Authorization {
	f.count++
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/device-code-%d", f.t.Name(), f.count))
	return store.Authorization{
		DeviceCodeHash: hex.EncodeToString(sum[:]),
		UserCode:       fmt.Sprintf("BCDFGH%02d", f.count),
		ClientID:       clientA,
		Scopes:         []string{"openid", "profile"},
		State:          store.StatePending,
		CreatedAt:      created,
		ExpiresAt:      created.Add(lifetime),
		Interval:       interval,
	}
}

// create stores a new authorization created at the fixture's base time.
func (f *fixture) create() store.Authorization {
	f.t.Helper()
	a := f.authorization(f.base)
	NewWithT(f.t).Expect(f.s.Create(context.Background(), a)).To(Succeed())
	return a
}

func (f *fixture) poll(a store.Authorization, clientID string, at time.Time) store.PollResult {
	f.t.Helper()
	result, err := f.s.Poll(context.Background(), a.DeviceCodeHash, clientID, at)
	NewWithT(f.t).Expect(err).NotTo(HaveOccurred())
	return result
}

func (f *fixture) lookup(a store.Authorization) store.Authorization {
	f.t.Helper()
	got, err := f.s.LookupUserCode(context.Background(), a.UserCode)
	NewWithT(f.t).Expect(err).NotTo(HaveOccurred())
	return got
}

func testLifecycle(t *testing.T, s store.Store) {
	g := NewWithT(t)
	ctx := context.Background()
	f := newFixture(t, s)
	a := f.create()

	got := f.lookup(a)
	g.Expect(got.DeviceCodeHash).To(Equal(a.DeviceCodeHash))
	g.Expect(got.UserCode).To(Equal(a.UserCode))
	g.Expect(got.ClientID).To(Equal(a.ClientID))
	g.Expect(got.Scopes).To(Equal(a.Scopes))
	g.Expect(got.State).To(Equal(store.StatePending))
	g.Expect(got.Subject).To(BeEmpty())
	g.Expect(got.CreatedAt.Equal(a.CreatedAt)).To(BeTrue(), "CreatedAt %s, want %s", got.CreatedAt, a.CreatedAt)
	g.Expect(got.ExpiresAt.Equal(a.ExpiresAt)).To(BeTrue(), "ExpiresAt %s, want %s", got.ExpiresAt, a.ExpiresAt)
	g.Expect(got.Interval).To(Equal(a.Interval))

	g.Expect(s.Approve(ctx, a.UserCode, "alice", f.base.Add(time.Second))).To(Succeed())
	got = f.lookup(a)
	g.Expect(got.State).To(Equal(store.StateApproved))
	g.Expect(got.Subject).To(Equal("alice"))

	result := f.poll(a, clientA, f.base.Add(2*time.Second))
	g.Expect(result.Outcome).To(Equal(store.PollRedeemed))
	g.Expect(result.Authorization.Subject).To(Equal("alice"))
	g.Expect(result.Authorization.Scopes).To(Equal(a.Scopes))
	g.Expect(result.Authorization.ClientID).To(Equal(clientA))
	g.Expect(f.lookup(a).State).To(Equal(store.StateRedeemed))

	result = f.poll(a, clientA, f.base.Add(time.Minute))
	g.Expect(result.Outcome).To(Equal(store.PollAlreadyRedeemed))
}

func testLookupUnknown(t *testing.T, s store.Store) {
	_, err := s.LookupUserCode(context.Background(), "ZZZZZZZZ")
	NewWithT(t).Expect(err).To(MatchError(store.ErrNotFound))
}

func testUserCodeTaken(t *testing.T, s store.Store) {
	g := NewWithT(t)
	f := newFixture(t, s)
	first := f.create()

	duplicate := f.authorization(f.base)
	duplicate.UserCode = first.UserCode
	g.Expect(s.Create(context.Background(), duplicate)).To(MatchError(store.ErrUserCodeTaken))

	g.Expect(f.lookup(first).DeviceCodeHash).To(Equal(first.DeviceCodeHash))
	_, err := s.Poll(context.Background(), duplicate.DeviceCodeHash, clientA, f.base)
	g.Expect(err).To(MatchError(store.ErrNotFound))
}

// A user code stays taken while its holder still returns PollExpired, and
// is free once the holder is forgotten.
func testUserCodeTakenUntilForgotten(t *testing.T, s store.Store) {
	g := NewWithT(t)
	f := newFixture(t, s)
	first := f.create()

	afterExpiry := f.authorization(first.ExpiresAt.Add(time.Second))
	afterExpiry.UserCode = first.UserCode
	g.Expect(s.Create(context.Background(), afterExpiry)).To(MatchError(store.ErrUserCodeTaken))

	afterForget := f.authorization(first.ForgetAt())
	afterForget.UserCode = first.UserCode
	g.Expect(s.Create(context.Background(), afterForget)).To(Succeed())

	result := f.poll(afterForget, clientA, afterForget.CreatedAt)
	g.Expect(result.Outcome).To(Equal(store.PollPending))
}

func testDuplicateDeviceCode(t *testing.T, s store.Store) {
	f := newFixture(t, s)
	first := f.create()

	duplicate := f.authorization(f.base)
	duplicate.DeviceCodeHash = first.DeviceCodeHash
	NewWithT(t).Expect(s.Create(context.Background(), duplicate)).NotTo(Succeed())
}

func testDeny(t *testing.T, s store.Store) {
	g := NewWithT(t)
	f := newFixture(t, s)
	a := f.create()

	g.Expect(s.Deny(context.Background(), a.UserCode, "bob", f.base.Add(time.Second))).To(Succeed())
	got := f.lookup(a)
	g.Expect(got.State).To(Equal(store.StateDenied))
	g.Expect(got.Subject).To(Equal("bob"))

	for i := range 2 {
		result := f.poll(a, clientA, f.base.Add(time.Duration(i+2)*time.Second))
		g.Expect(result.Outcome).To(Equal(store.PollDenied), "poll %d", i)
		g.Expect(result.Authorization.Subject).To(Equal("bob"), "poll %d", i)
	}
}

func testDecideOnlyFromPending(t *testing.T, open func(*testing.T) store.Store) {
	approve := func(s store.Store, code string, at time.Time) error {
		return s.Approve(context.Background(), code, "alice", at)
	}
	deny := func(s store.Store, code string, at time.Time) error {
		return s.Deny(context.Background(), code, "alice", at)
	}
	type decision func(store.Store, string, time.Time) error

	cases := []struct {
		name      string
		first     decision
		redeem    bool
		second    decision
		wantState store.State
	}{
		{name: "ApproveTwice", first: approve, second: approve, wantState: store.StateApproved},
		{name: "DenyAfterApprove", first: approve, second: deny, wantState: store.StateApproved},
		{name: "ApproveAfterDeny", first: deny, second: approve, wantState: store.StateDenied},
		{name: "DenyTwice", first: deny, second: deny, wantState: store.StateDenied},
		{name: "ApproveAfterRedeem", first: approve, redeem: true, second: approve, wantState: store.StateRedeemed},
		{name: "DenyAfterRedeem", first: approve, redeem: true, second: deny, wantState: store.StateRedeemed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, open(t))
			a := f.create()

			g.Expect(tc.first(f.s, a.UserCode, f.base.Add(time.Second))).To(Succeed())
			if tc.redeem {
				g.Expect(f.poll(a, clientA, f.base.Add(2*time.Second)).Outcome).To(Equal(store.PollRedeemed))
			}
			g.Expect(tc.second(f.s, a.UserCode, f.base.Add(3*time.Second))).To(MatchError(store.ErrNotPending))
			g.Expect(f.lookup(a).State).To(Equal(tc.wantState))
		})
	}
}

func testDecideUnknown(t *testing.T, s store.Store) {
	g := NewWithT(t)
	now := time.Now()
	g.Expect(s.Approve(context.Background(), "ZZZZZZZZ", "alice", now)).To(MatchError(store.ErrNotFound))
	g.Expect(s.Deny(context.Background(), "ZZZZZZZZ", "alice", now)).To(MatchError(store.ErrNotFound))
}

func testDecideExpired(t *testing.T, s store.Store) {
	g := NewWithT(t)
	ctx := context.Background()
	f := newFixture(t, s)
	a := f.create()

	g.Expect(s.Approve(ctx, a.UserCode, "alice", a.ExpiresAt)).To(MatchError(store.ErrExpired))
	g.Expect(s.Deny(ctx, a.UserCode, "alice", a.ExpiresAt)).To(MatchError(store.ErrExpired))
	g.Expect(s.Approve(ctx, a.UserCode, "alice", a.ForgetAt().Add(-time.Nanosecond))).To(MatchError(store.ErrExpired))
	g.Expect(f.lookup(a).State).To(Equal(store.StatePending))

	result := f.poll(a, clientA, a.ExpiresAt)
	g.Expect(result.Outcome).To(Equal(store.PollExpired))
}

func testDecideForgotten(t *testing.T, s store.Store) {
	g := NewWithT(t)
	ctx := context.Background()
	f := newFixture(t, s)
	a := f.create()
	b := f.create()

	g.Expect(s.Approve(ctx, a.UserCode, "alice", a.ForgetAt())).To(MatchError(store.ErrNotFound))
	g.Expect(s.Deny(ctx, b.UserCode, "alice", b.ForgetAt())).To(MatchError(store.ErrNotFound))
}

func testPollUnknown(t *testing.T, s store.Store) {
	sum := sha256.Sum256([]byte("never created"))
	_, err := s.Poll(context.Background(), hex.EncodeToString(sum[:]), clientA, time.Now())
	NewWithT(t).Expect(err).To(MatchError(store.ErrNotFound))
}

// An authorization expires at ExpiresAt and returns PollExpired until it
// is forgotten at ForgetAt, one more lifetime later.
func testExpiryAndForgetTimes(t *testing.T, s store.Store) {
	g := NewWithT(t)
	f := newFixture(t, s)
	a := f.create()

	g.Expect(f.poll(a, clientA, a.ExpiresAt.Add(-time.Nanosecond)).Outcome).To(Equal(store.PollPending))
	g.Expect(f.poll(a, clientA, a.ExpiresAt).Outcome).To(Equal(store.PollExpired))
	g.Expect(f.poll(a, clientA, a.ExpiresAt.Add(lifetime/2)).Outcome).To(Equal(store.PollExpired))
	g.Expect(f.poll(a, clientA, a.ForgetAt().Add(-time.Nanosecond)).Outcome).To(Equal(store.PollExpired))

	_, err := s.Poll(context.Background(), a.DeviceCodeHash, clientA, a.ForgetAt())
	g.Expect(err).To(MatchError(store.ErrNotFound))
}

func testWrongClientChangesNothing(t *testing.T, s store.Store) {
	g := NewWithT(t)
	f := newFixture(t, s)
	waiting := f.create()
	approved := f.create()
	g.Expect(s.Approve(context.Background(), approved.UserCode, "alice", f.base)).To(Succeed())

	for i := range 5 {
		at := f.base.Add(time.Duration(i) * time.Millisecond)
		g.Expect(f.poll(waiting, clientB, at).Outcome).To(Equal(store.PollWrongClient), "poll %d", i)
		g.Expect(f.poll(approved, clientB, at).Outcome).To(Equal(store.PollWrongClient), "poll %d", i)
	}

	// The owner's first poll is still a first poll, and the approval is
	// still there to redeem.
	result := f.poll(waiting, clientA, f.base.Add(10*time.Millisecond))
	g.Expect(result.Outcome).To(Equal(store.PollPending))
	g.Expect(result.Interval).To(Equal(interval))
	g.Expect(f.poll(approved, clientA, f.base.Add(10*time.Millisecond)).Outcome).To(Equal(store.PollRedeemed))
}

func testWrongClientBeforeExpiry(t *testing.T, s store.Store) {
	f := newFixture(t, s)
	a := f.create()
	NewWithT(t).Expect(f.poll(a, clientB, a.ExpiresAt.Add(time.Second)).Outcome).To(Equal(store.PollWrongClient))
}

func testExpiryBeforeState(t *testing.T, s store.Store) {
	g := NewWithT(t)
	ctx := context.Background()
	f := newFixture(t, s)
	approved := f.create()
	denied := f.create()
	g.Expect(s.Approve(ctx, approved.UserCode, "alice", f.base)).To(Succeed())
	g.Expect(s.Deny(ctx, denied.UserCode, "alice", f.base)).To(Succeed())

	g.Expect(f.poll(approved, clientA, approved.ExpiresAt).Outcome).To(Equal(store.PollExpired))
	g.Expect(f.poll(denied, clientA, denied.ExpiresAt).Outcome).To(Equal(store.PollExpired))
	g.Expect(f.lookup(approved).State).To(Equal(store.StateApproved))
}

// An approved authorization is redeemed even by a poll that comes too
// early, and a denied one returns PollDenied however fast it is polled.
func testStateBeforeRate(t *testing.T, s store.Store) {
	g := NewWithT(t)
	ctx := context.Background()
	f := newFixture(t, s)
	approved := f.create()
	denied := f.create()

	for _, a := range []store.Authorization{approved, denied} {
		g.Expect(f.poll(a, clientA, f.base).Outcome).To(Equal(store.PollPending))
		g.Expect(f.poll(a, clientA, f.base.Add(10*time.Millisecond)).Outcome).To(Equal(store.PollPending))
		g.Expect(f.poll(a, clientA, f.base.Add(20*time.Millisecond)).Outcome).To(Equal(store.PollSlowDown))
	}
	g.Expect(s.Approve(ctx, approved.UserCode, "alice", f.base.Add(30*time.Millisecond))).To(Succeed())
	g.Expect(s.Deny(ctx, denied.UserCode, "alice", f.base.Add(30*time.Millisecond))).To(Succeed())

	g.Expect(f.poll(approved, clientA, f.base.Add(40*time.Millisecond)).Outcome).To(Equal(store.PollRedeemed))
	g.Expect(f.poll(approved, clientA, f.base.Add(50*time.Millisecond)).Outcome).To(Equal(store.PollAlreadyRedeemed))
	for i := range 3 {
		at := f.base.Add(time.Duration(40+i) * time.Millisecond)
		g.Expect(f.poll(denied, clientA, at).Outcome).To(Equal(store.PollDenied), "poll %d", i)
	}
}

// poll is one step of a rate scenario: the offset from the first poll
// and the expected answer.
type poll struct {
	at           time.Duration
	wantOutcome  store.PollOutcome
	wantInterval time.Duration
}

func pending(at, wantInterval time.Duration) poll {
	return poll{at: at, wantOutcome: store.PollPending, wantInterval: wantInterval}
}

func slowDown(at, wantInterval time.Duration) poll {
	return poll{at: at, wantOutcome: store.PollSlowDown, wantInterval: wantInterval}
}

// everyInterval returns count pending polls spaced every apart, starting
// at start, each answered with wantInterval.
func everyInterval(start, every time.Duration, count int, wantInterval time.Duration) []poll {
	polls := make([]poll, count)
	for i := range polls {
		polls[i] = pending(start+time.Duration(i)*every, wantInterval)
	}
	return polls
}

// doubled returns pairs of polls 5ms apart every interval, the way
// golang.org/x/oauth2 sends each poll first with HTTP Basic and then with
// client_id in the body.
func doubled(start, every time.Duration, count int, wantInterval time.Duration) []poll {
	var polls []poll
	for i := range count {
		at := start + time.Duration(i)*every
		polls = append(polls, pending(at, wantInterval), pending(at+5*time.Millisecond, wantInterval))
	}
	return polls
}

func concat(parts ...[]poll) []poll {
	var out []poll
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

const second = time.Second

func testRate(t *testing.T, open func(*testing.T) store.Store) {
	cases := []struct {
		name  string
		polls []poll
	}{
		{
			name:  "FirstPollNeverTooEarly",
			polls: []poll{pending(0, 5*second)},
		},
		{
			name:  "PollsAtIntervalArePending",
			polls: everyInterval(0, 5*second, 20, 5*second),
		},
		{
			name:  "OneSecondTolerance",
			polls: []poll{pending(0, 5*second), pending(4*second, 5*second), pending(8*second, 5*second)},
		},
		{
			name:  "EarlyBeyondTolerance",
			polls: []poll{pending(0, 5*second), slowDown(4*second-time.Millisecond, 10*second)},
		},
		{
			name: "OneRepeatCountsAsSamePoll",
			polls: []poll{
				pending(0, 5*second),
				pending(999*time.Millisecond, 5*second),
				slowDown(999*time.Millisecond+1, 10*second),
			},
		},
		{
			name:  "RepeatWindowIsUnderOneSecond",
			polls: []poll{pending(0, 5*second), slowDown(second, 10*second)},
		},
		{
			// Had the repeat counted as a new accepted poll, the poll at
			// 4s would be early.
			name:  "RepeatChangesNoState",
			polls: []poll{pending(0, 5*second), pending(900*time.Millisecond, 5*second), pending(4*second, 5*second)},
		},
		{
			name: "EachSlowDownAddsFiveSeconds",
			polls: []poll{
				pending(0, 5*second),
				slowDown(2*second, 10*second),
				slowDown(3500*time.Millisecond, 15*second),
				slowDown(5*second, 20*second),
			},
		},
		{
			// A client that sends each poll twice receives slow_down
			// twice but adds 5 seconds once, so the repeat raises nothing.
			name: "RepeatOfSlowDownRaisesNothing",
			polls: []poll{
				pending(0, 5*second),
				slowDown(2*second, 10*second),
				slowDown(2500*time.Millisecond, 10*second),
				slowDown(2700*time.Millisecond, 15*second),
			},
		},
		{
			name: "NewIntervalNeverSlowedDownAgain",
			polls: concat(
				[]poll{pending(0, 5*second), slowDown(2*second, 10*second)},
				everyInterval(12*second, 10*second, 20, 10*second),
			),
		},
		{
			// The raised interval counts from the last accepted poll, so a
			// client that waits it from the poll before the slow_down is
			// on time too.
			name: "NewIntervalCountsFromLastAcceptedPoll",
			polls: []poll{
				pending(0, 5*second),
				slowDown(2*second, 10*second),
				pending(9*second, 10*second),
				pending(18*second, 10*second),
			},
		},
		{
			name:  "DoubledPollsNeverSlowedDown",
			polls: doubled(0, 5*second, 20, 5*second),
		},
		{
			name: "DoubledPollsRecoverAfterSlowDown",
			polls: concat(
				doubled(0, 5*second, 1, 5*second),
				[]poll{slowDown(3*second, 10*second), slowDown(3*second+5*time.Millisecond, 10*second)},
				doubled(13*second, 10*second, 20, 10*second),
			),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, open(t))
			a := f.create()
			start := f.base.Add(time.Second)

			for i, p := range tc.polls {
				result := f.poll(a, clientA, start.Add(p.at))
				g.Expect(result.Outcome).To(Equal(p.wantOutcome), "poll %d at +%s", i, p.at)
				g.Expect(result.Interval).To(Equal(p.wantInterval), "poll %d at +%s", i, p.at)
			}
		})
	}
}

func testRateIsPerDeviceCode(t *testing.T, s store.Store) {
	g := NewWithT(t)
	f := newFixture(t, s)
	slowed := f.create()
	other := f.create()

	g.Expect(f.poll(slowed, clientA, f.base).Outcome).To(Equal(store.PollPending))
	g.Expect(f.poll(slowed, clientA, f.base.Add(2*time.Second)).Outcome).To(Equal(store.PollSlowDown))

	result := f.poll(other, clientA, f.base.Add(2*time.Second))
	g.Expect(result.Outcome).To(Equal(store.PollPending))
	g.Expect(result.Interval).To(Equal(interval))
}

func testConcurrentRedeem(t *testing.T, s store.Store) {
	g := NewWithT(t)
	f := newFixture(t, s)
	a := f.create()
	g.Expect(s.Approve(context.Background(), a.UserCode, "alice", f.base)).To(Succeed())

	const pollers = 64
	outcomes := make(chan store.PollOutcome, pollers)
	errs := make(chan error, pollers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range pollers {
		wg.Go(func() {
			<-start
			result, err := s.Poll(context.Background(), a.DeviceCodeHash, clientA, f.base.Add(time.Second))
			if err != nil {
				errs <- err
				return
			}
			outcomes <- result.Outcome
		})
	}
	close(start)
	wg.Wait()
	close(outcomes)
	close(errs)

	g.Expect(errors.Join(collect(errs)...)).NotTo(HaveOccurred())
	counts := map[store.PollOutcome]int{}
	for o := range outcomes {
		counts[o]++
	}
	g.Expect(counts).To(Equal(map[store.PollOutcome]int{
		store.PollRedeemed:        1,
		store.PollAlreadyRedeemed: pollers - 1,
	}))
}

func testConcurrentApprove(t *testing.T, s store.Store) {
	g := NewWithT(t)
	f := newFixture(t, s)
	a := f.create()

	const approvers = 32
	errs := make(chan error, approvers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range approvers {
		wg.Go(func() {
			<-start
			subject := fmt.Sprintf("user-%d", i)
			if i%2 == 0 {
				errs <- s.Approve(context.Background(), a.UserCode, subject, f.base)
			} else {
				errs <- s.Deny(context.Background(), a.UserCode, subject, f.base)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)

	succeeded := 0
	for err := range errs {
		if err == nil {
			succeeded++
			continue
		}
		g.Expect(err).To(MatchError(store.ErrNotPending))
	}
	g.Expect(succeeded).To(Equal(1))
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// Callers get copies: changing what they passed in or got back never
// changes what the store holds.
func testCopySemantics(t *testing.T, s store.Store) {
	g := NewWithT(t)
	f := newFixture(t, s)
	a := f.authorization(f.base)
	scopes := a.Scopes
	g.Expect(s.Create(context.Background(), a)).To(Succeed())
	scopes[0] = "changed-after-create"

	looked := f.lookup(a)
	g.Expect(looked.Scopes).To(Equal([]string{"openid", "profile"}))
	looked.Scopes[0] = "changed-after-lookup"
	g.Expect(f.lookup(a).Scopes).To(Equal([]string{"openid", "profile"}))

	polled := f.poll(a, clientA, f.base)
	polled.Authorization.Scopes[0] = "changed-after-poll"
	g.Expect(f.lookup(a).Scopes).To(Equal([]string{"openid", "profile"}))

	g.Expect(s.Approve(context.Background(), a.UserCode, "alice", f.base.Add(time.Second))).To(Succeed())
	redeemed := f.poll(a, clientA, f.base.Add(2*time.Second))
	g.Expect(redeemed.Authorization.Scopes).To(Equal([]string{"openid", "profile"}))
}
