package store

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// defaultSweepInterval is how often an idle Memory store drops forgotten
// authorizations. Writes also sweep, so this only bounds how long memory
// stays in use while no requests arrive.
const defaultSweepInterval = time.Minute

var errMemoryClosed = errors.New("memory store is closed")

// Memory is a Store that keeps authorizations in process memory, for a
// single replica. Everything is lost on restart.
//
// It forgets an authorization at its ForgetAt time. Each write sweeps the
// authorizations whose ForgetAt has passed at the write's time, and a
// background sweep does the same on a timer, so memory stays bounded
// without a goroutine or timer per authorization.
type Memory struct {
	clock      func() time.Time
	ticks      <-chan time.Time
	stopTicker func()

	mu         sync.Mutex
	byHash     map[string]*memoryEntry
	byUserCode map[string]*memoryEntry
	forget     forgetQueue
	closed     bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type memoryEntry struct {
	auth     Authorization
	rate     PollRate
	forgetAt time.Time
}

// MemoryOption configures NewMemory.
type MemoryOption func(*Memory)

// WithClock sets the clock that the background sweep and LookupUserCode
// use. The other methods take the time as an argument. Default time.Now.
func WithClock(clock func() time.Time) MemoryOption {
	return func(m *Memory) { m.clock = clock }
}

// WithSweepTicks makes the background sweep run on each value received
// from ticks instead of once a minute. Tests use it to sweep on demand.
func WithSweepTicks(ticks <-chan time.Time) MemoryOption {
	return func(m *Memory) { m.ticks = ticks }
}

// NewMemory returns an empty Memory store and starts its background
// sweep, which Close stops.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{
		clock:      time.Now,
		byHash:     make(map[string]*memoryEntry),
		byUserCode: make(map[string]*memoryEntry),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	for _, opt := range opts {
		opt(m)
	}
	if m.ticks == nil {
		ticker := time.NewTicker(defaultSweepInterval)
		m.ticks = ticker.C
		m.stopTicker = ticker.Stop
	}
	go m.sweepLoop()
	return m
}

func (m *Memory) sweepLoop() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		case <-m.ticks:
			m.mu.Lock()
			m.sweepLocked(m.clock())
			m.mu.Unlock()
		}
	}
}

// sweepLocked drops every authorization whose ForgetAt is not after now.
func (m *Memory) sweepLocked(now time.Time) {
	for len(m.forget) > 0 && !m.forget[0].forgetAt.After(now) {
		e := heap.Pop(&m.forget).(*memoryEntry)
		delete(m.byHash, e.auth.DeviceCodeHash)
		if m.byUserCode[e.auth.UserCode] == e {
			delete(m.byUserCode, e.auth.UserCode)
		}
	}
}

// Len returns the number of authorizations held, forgotten ones that no
// sweep has dropped yet included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byHash)
}

// Create stores a new pending authorization. A user code stays taken until
// its holder is forgotten, not just expired. So a person who types the
// code of an expired authorization gets ErrExpired, and cannot approve a
// stranger's device that drew the same code. Create sweeps forgotten
// authorizations as of the new one's CreatedAt.
func (m *Memory) Create(_ context.Context, a Authorization) error {
	if err := validateNew(a); err != nil {
		return err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errMemoryClosed
	}
	m.sweepLocked(a.CreatedAt)

	if _, ok := m.byUserCode[a.UserCode]; ok {
		return ErrUserCodeTaken
	}
	if _, ok := m.byHash[a.DeviceCodeHash]; ok {
		return errors.New("device code hash is already stored")
	}

	a = cloneAuthorization(a)
	a.State = StatePending
	a.Subject = ""
	e := &memoryEntry{auth: a, rate: NewPollRate(a.Interval), forgetAt: a.ForgetAt()}
	m.byHash[a.DeviceCodeHash] = e
	m.byUserCode[a.UserCode] = e
	heap.Push(&m.forget, e)
	return nil
}

func validateNew(a Authorization) error {
	switch {
	case a.DeviceCodeHash == "":
		return errors.New("authorization has no device code hash")
	case a.UserCode == "":
		return errors.New("authorization has no user code")
	case a.ClientID == "":
		return errors.New("authorization has no client ID")
	case !a.ExpiresAt.After(a.CreatedAt):
		return fmt.Errorf("authorization expires at %s, not after its creation at %s",
			a.ExpiresAt.Format(time.RFC3339Nano), a.CreatedAt.Format(time.RFC3339Nano))
	case a.Interval <= 0:
		return fmt.Errorf("authorization interval %s must be positive", a.Interval)
	}
	return nil
}

// LookupUserCode returns the authorization with the user code, expired or
// not, until the store's clock reaches its ForgetAt.
func (m *Memory) LookupUserCode(_ context.Context, userCode string) (Authorization, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Authorization{}, errMemoryClosed
	}
	m.sweepLocked(m.clock())

	e, ok := m.byUserCode[userCode]
	if !ok {
		return Authorization{}, ErrNotFound
	}
	return cloneAuthorization(e.auth), nil
}

// Approve moves a pending authorization to approved for subject.
func (m *Memory) Approve(_ context.Context, userCode, subject string, now time.Time) error {
	return m.decide(userCode, subject, now, StateApproved)
}

// Deny moves a pending authorization to denied.
func (m *Memory) Deny(_ context.Context, userCode, subject string, now time.Time) error {
	return m.decide(userCode, subject, now, StateDenied)
}

func (m *Memory) decide(userCode, subject string, now time.Time, to State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errMemoryClosed
	}
	m.sweepLocked(now)

	e, ok := m.byUserCode[userCode]
	switch {
	case !ok:
		return ErrNotFound
	case !now.Before(e.auth.ExpiresAt):
		return ErrExpired
	case e.auth.State != StatePending:
		return ErrNotPending
	}
	e.auth.State = to
	e.auth.Subject = subject
	return nil
}

// Poll applies one token-endpoint poll. See Store.Poll for the order of
// checks and CheckPollRate for the rate rules.
func (m *Memory) Poll(_ context.Context, deviceCodeHash, clientID string, now time.Time) (PollResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return PollResult{}, errMemoryClosed
	}
	m.sweepLocked(now)

	e, ok := m.byHash[deviceCodeHash]
	if !ok {
		return PollResult{}, ErrNotFound
	}

	outcome := m.pollLocked(e, clientID, now)
	return PollResult{
		Outcome:       outcome,
		Interval:      e.rate.Interval,
		Authorization: cloneAuthorization(e.auth),
	}, nil
}

func (m *Memory) pollLocked(e *memoryEntry, clientID string, now time.Time) PollOutcome {
	if e.auth.ClientID != clientID {
		return PollWrongClient
	}
	if !now.Before(e.auth.ExpiresAt) {
		return PollExpired
	}

	switch e.auth.State {
	case StateApproved:
		e.auth.State = StateRedeemed
		return PollRedeemed
	case StateRedeemed:
		return PollAlreadyRedeemed
	case StateDenied:
		return PollDenied
	}

	var tooEarly bool
	e.rate, tooEarly = CheckPollRate(e.rate, now)
	if tooEarly {
		return PollSlowDown
	}
	return PollPending
}

// Ping reports an error once the store is closed.
func (m *Memory) Ping(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errMemoryClosed
	}
	return nil
}

// Close stops the background sweep and makes every later call fail. It
// may be called more than once.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
		if m.stopTicker != nil {
			m.stopTicker()
		}
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
	})
	return nil
}

// cloneAuthorization copies a so that neither the caller nor the store
// can change the other's Scopes.
func cloneAuthorization(a Authorization) Authorization {
	a.Scopes = slices.Clone(a.Scopes)
	return a
}

// forgetQueue is a min-heap of entries by forgetAt.
type forgetQueue []*memoryEntry

func (q forgetQueue) Len() int           { return len(q) }
func (q forgetQueue) Less(i, j int) bool { return q[i].forgetAt.Before(q[j].forgetAt) }
func (q forgetQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *forgetQueue) Push(x any)        { *q = append(*q, x.(*memoryEntry)) }

func (q *forgetQueue) Pop() any {
	old := *q
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return e
}
