package store

import "time"

// Polling-rate constants of RFC 8628 section 3.5 and of the server's
// tolerance for jitter and retries.
const (
	// SlowDownStep is what each slow_down adds to a device code's interval.
	// RFC 8628 section 3.5 requires clients to add exactly 5 seconds, so a
	// server that adds more leaves compliant clients behind for good.
	SlowDownStep = 5 * time.Second

	// PollTolerance is how much earlier than the interval a poll may come
	// and still be on time, to absorb network and timer jitter.
	PollTolerance = time.Second

	// RepeatWindow is how soon after a counted poll one repeat of it gets
	// the same response as that poll. golang.org/x/oauth2 (v0.38.0) sends every
	// failed poll twice within milliseconds, first with HTTP Basic and then
	// with client_id in the body, before it learns which style works.
	RepeatWindow = time.Second
)

// PollRate is the polling-rate state of one device code. It needs no
// durability: the zero value with Interval set is a device code that was
// never polled, so losing the state only makes the next poll a first poll.
type PollRate struct {
	// Interval is the current polling interval, raised by each slow_down.
	Interval time.Duration

	// LastAccepted is the time of the last poll that came on time. The
	// zero time means the device code was never polled.
	LastAccepted time.Time

	// LastCounted is the time of the last poll that was not a repeat:
	// either accepted or slowed down.
	LastCounted time.Time

	// LastSlowedDown reports whether the poll at LastCounted got slow_down.
	LastSlowedDown bool

	// RepeatUsed reports whether the poll at LastCounted was repeated.
	RepeatUsed bool
}

// NewPollRate returns the state of a device code that was never polled.
func NewPollRate(interval time.Duration) PollRate {
	return PollRate{Interval: interval}
}

// CheckPollRate decides whether a poll of a pending authorization at now
// comes too early, and returns the state after the poll. A backend stores
// the returned state, then responds with slow_down and the returned
// Interval when tooEarly is true, and with authorization_pending
// otherwise. The rules, in order:
//
//  1. The first poll is on time.
//  2. A poll at or after LastAccepted + Interval - PollTolerance is on
//     time. It becomes LastAccepted and LastCounted.
//  3. The first repeat sooner than RepeatWindow after LastCounted gets the
//     same response as the poll at LastCounted and changes nothing but
//     RepeatUsed. This covers a slow_down too: a client that sends each
//     poll twice receives slow_down twice but adds 5 seconds once.
//  4. Any other poll is too early. It raises Interval by SlowDownStep and
//     becomes LastCounted, while LastAccepted stays, so a client that then
//     waits the raised interval after any of its polls is on time.
//
// Times compare at nanosecond precision here. A backend that keeps
// integer milliseconds (a Redis script, say) applies the same four steps
// to milliseconds.
func CheckPollRate(rate PollRate, now time.Time) (next PollRate, tooEarly bool) {
	onTime := rate.LastAccepted.IsZero() ||
		!now.Before(rate.LastAccepted.Add(rate.Interval-PollTolerance))
	if onTime {
		return PollRate{
			Interval:     rate.Interval,
			LastAccepted: now,
			LastCounted:  now,
		}, false
	}

	if !rate.RepeatUsed && now.Sub(rate.LastCounted) < RepeatWindow {
		rate.RepeatUsed = true
		return rate, rate.LastSlowedDown
	}

	return PollRate{
		Interval:       rate.Interval + SlowDownStep,
		LastAccepted:   rate.LastAccepted,
		LastCounted:    now,
		LastSlowedDown: true,
	}, true
}
