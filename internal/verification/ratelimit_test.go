package verification

import (
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

var limiterStart = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func TestLimiterLocksAtMaxFailures(t *testing.T) {
	g := NewWithT(t)
	l := newLimiter(3, time.Minute)

	g.Expect(l.fail("k", limiterStart)).To(BeFalse())
	g.Expect(l.fail("k", limiterStart.Add(10*time.Second))).To(BeFalse())
	g.Expect(l.retryAfter("k", limiterStart.Add(10*time.Second))).To(BeZero())
	g.Expect(l.fail("k", limiterStart.Add(20*time.Second))).To(BeTrue(), "the third failure locks")

	g.Expect(l.retryAfter("k", limiterStart.Add(20*time.Second))).To(Equal(40 * time.Second))
	g.Expect(l.retryAfter("other", limiterStart.Add(20*time.Second))).To(BeZero())
	g.Expect(l.retryAfter("k", limiterStart.Add(time.Minute))).To(BeZero(), "the window has ended")
}

func TestLimiterStartsNewWindowAfterEnd(t *testing.T) {
	g := NewWithT(t)
	l := newLimiter(2, time.Minute)
	l.fail("k", limiterStart)

	l.fail("k", limiterStart.Add(time.Minute))

	g.Expect(l.retryAfter("k", limiterStart.Add(time.Minute))).To(BeZero(),
		"the old failure does not count in the new window")
}

func TestLimiterReset(t *testing.T) {
	g := NewWithT(t)
	l := newLimiter(1, time.Minute)
	l.fail("k", limiterStart)

	l.reset("k")

	g.Expect(l.retryAfter("k", limiterStart)).To(BeZero())
	g.Expect(l.len()).To(Equal(0))
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	g := NewWithT(t)
	l := newLimiter(1, time.Minute)
	for i := range maxLimiterKeys {
		l.fail("key"+strconv.Itoa(i), limiterStart.Add(time.Duration(i)*time.Millisecond))
	}
	g.Expect(l.len()).To(Equal(maxLimiterKeys))

	l.fail("newcomer", limiterStart.Add(time.Second*30))

	g.Expect(l.len()).To(Equal(maxLimiterKeys))
	g.Expect(l.retryAfter("newcomer", limiterStart.Add(30*time.Second))).NotTo(BeZero())
	g.Expect(l.retryAfter("key0", limiterStart.Add(30*time.Second))).To(BeZero(), "the oldest window is evicted")
	g.Expect(l.retryAfter("key1", limiterStart.Add(30*time.Second))).NotTo(BeZero())
}

func TestLimiterDropsEndedWindowsWhenFull(t *testing.T) {
	g := NewWithT(t)
	l := newLimiter(1, time.Minute)
	for i := range maxLimiterKeys {
		l.fail("key"+strconv.Itoa(i), limiterStart)
	}

	l.fail("newcomer", limiterStart.Add(time.Minute))

	g.Expect(l.len()).To(Equal(1))
}
