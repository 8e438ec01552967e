package store

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestCheckPollRate(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	accepted := PollRate{Interval: 5 * time.Second, LastAccepted: t0, LastCounted: t0}

	cases := []struct {
		name         string
		rate         PollRate
		now          time.Time
		wantTooEarly bool
		want         PollRate
	}{
		{
			name: "FirstPoll",
			rate: NewPollRate(5 * time.Second),
			now:  t0,
			want: accepted,
		},
		{
			name: "OnTime",
			rate: accepted,
			now:  at(5 * time.Second),
			want: PollRate{Interval: 5 * time.Second, LastAccepted: at(5 * time.Second), LastCounted: at(5 * time.Second)},
		},
		{
			name: "WithinTolerance",
			rate: accepted,
			now:  at(4 * time.Second),
			want: PollRate{Interval: 5 * time.Second, LastAccepted: at(4 * time.Second), LastCounted: at(4 * time.Second)},
		},
		{
			name: "RepeatChangesOnlyRepeatUsed",
			rate: accepted,
			now:  at(500 * time.Millisecond),
			want: PollRate{Interval: 5 * time.Second, LastAccepted: t0, LastCounted: t0, RepeatUsed: true},
		},
		{
			name:         "SecondRepeatSlowsDown",
			rate:         PollRate{Interval: 5 * time.Second, LastAccepted: t0, LastCounted: t0, RepeatUsed: true},
			now:          at(600 * time.Millisecond),
			wantTooEarly: true,
			want: PollRate{
				Interval:       10 * time.Second,
				LastAccepted:   t0,
				LastCounted:    at(600 * time.Millisecond),
				LastSlowedDown: true,
			},
		},
		{
			name:         "EarlyAfterRepeatWindow",
			rate:         accepted,
			now:          at(time.Second),
			wantTooEarly: true,
			want:         PollRate{Interval: 10 * time.Second, LastAccepted: t0, LastCounted: at(time.Second), LastSlowedDown: true},
		},
		{
			name: "RepeatOfSlowDownKeepsInterval",
			rate: PollRate{
				Interval:       10 * time.Second,
				LastAccepted:   t0,
				LastCounted:    at(2 * time.Second),
				LastSlowedDown: true,
			},
			now:          at(2*time.Second + 5*time.Millisecond),
			wantTooEarly: true,
			want: PollRate{
				Interval:       10 * time.Second,
				LastAccepted:   t0,
				LastCounted:    at(2 * time.Second),
				LastSlowedDown: true,
				RepeatUsed:     true,
			},
		},
		{
			name: "RaisedIntervalFromLastAccepted",
			rate: PollRate{
				Interval:       10 * time.Second,
				LastAccepted:   t0,
				LastCounted:    at(2 * time.Second),
				LastSlowedDown: true,
			},
			now:  at(9 * time.Second),
			want: PollRate{Interval: 10 * time.Second, LastAccepted: at(9 * time.Second), LastCounted: at(9 * time.Second)},
		},
		{
			name: "OneSecondIntervalNeverEarly",
			rate: PollRate{Interval: time.Second, LastAccepted: t0, LastCounted: t0, RepeatUsed: true},
			now:  t0,
			want: PollRate{Interval: time.Second, LastAccepted: t0, LastCounted: t0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, tooEarly := CheckPollRate(tc.rate, tc.now)
			g.Expect(tooEarly).To(Equal(tc.wantTooEarly))
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

// A client that waits the interval of its last slow_down response,
// counting from its previous poll, is never slowed down again, even when
// each of its polls arrives up to the tolerance early.
func TestCheckPollRateCompliantClientConverges(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rate := NewPollRate(5 * time.Second)
	rate, _ = CheckPollRate(rate, now)

	// One early poll: the client learns the raised interval.
	now = now.Add(2 * time.Second)
	rate, tooEarly := CheckPollRate(rate, now)
	g.Expect(tooEarly).To(BeTrue())
	raised := rate.Interval

	for i := range 50 {
		now = now.Add(raised - PollTolerance)
		rate, tooEarly = CheckPollRate(rate, now)
		g.Expect(tooEarly).To(BeFalse(), "poll %d", i)
		g.Expect(rate.Interval).To(Equal(raised), "poll %d", i)
	}
}
