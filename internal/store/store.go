// Package store keeps device authorizations. Every backend implements Store
// and passes the contract suite in package storetest.
//
// An authorization moves pending -> approved -> redeemed or pending ->
// denied, and expires. Lifecycle transitions (create, approve, deny, redeem)
// are what a durable backend persists. Polling-rate state (the last accepted
// poll and the current interval) needs no durability: losing it only makes
// the next poll count as a first poll, and a poll at the right rate never
// causes a durable write.
package store

import (
	"context"
	"errors"
	"time"
)

// State is the lifecycle stage of an authorization.
type State string

const (
	StatePending  State = "pending"
	StateApproved State = "approved"
	StateDenied   State = "denied"
	StateRedeemed State = "redeemed"
)

// Errors returned by stores. Any other error means the store is unreachable
// or failed, and callers treat it as transient.
var (
	// ErrNotFound: no authorization has that device code hash or user code,
	// or it expired long enough ago to be forgotten.
	ErrNotFound = errors.New("authorization not found")

	// ErrUserCodeTaken: Create found the user code in use; the caller draws
	// another code and retries.
	ErrUserCodeTaken = errors.New("user code already in use")

	// ErrNotPending: Approve or Deny found the authorization not pending.
	ErrNotPending = errors.New("authorization is not pending")

	// ErrExpired: Approve or Deny found the authorization expired.
	ErrExpired = errors.New("authorization expired")
)

// Authorization is one device authorization request.
type Authorization struct {
	// DeviceCodeHash is the SHA-256 of the device code, hex encoded. The
	// device code itself is never stored.
	DeviceCodeHash string

	// UserCode is the normalized user code: upper case, no dash.
	UserCode string

	ClientID string
	Scopes   []string

	State State

	// Subject is the user who approved or denied; empty while pending.
	Subject string

	CreatedAt time.Time
	ExpiresAt time.Time

	// Interval is the polling interval given to the client at creation.
	Interval time.Duration
}

// Lifetime is how long the device code is valid.
func (a *Authorization) Lifetime() time.Duration { return a.ExpiresAt.Sub(a.CreatedAt) }

// ForgetAt is when a store may drop the authorization: one more lifetime
// after it expires, so that polls get expired_token instead of
// invalid_grant for a while.
func (a *Authorization) ForgetAt() time.Time { return a.ExpiresAt.Add(a.Lifetime()) }

// PollOutcome is the result of one poll of the token endpoint.
type PollOutcome string

const (
	// PollPending: the user has not decided; authorization_pending.
	PollPending PollOutcome = "pending"
	// PollSlowDown: the poll came too early; slow_down, interval raised.
	PollSlowDown PollOutcome = "slow_down"
	// PollRedeemed: this poll redeemed an approved authorization; it alone
	// gets the tokens.
	PollRedeemed PollOutcome = "redeemed"
	// PollAlreadyRedeemed: a previous poll redeemed it; invalid_grant.
	PollAlreadyRedeemed PollOutcome = "already_redeemed"
	// PollDenied: the user declined; access_denied.
	PollDenied PollOutcome = "denied"
	// PollExpired: the device code is past its lifetime; expired_token.
	PollExpired PollOutcome = "expired"
	// PollWrongClient: the device code belongs to another client;
	// invalid_grant. Nothing changes.
	PollWrongClient PollOutcome = "wrong_client"
)

// PollResult is what Poll decided.
type PollResult struct {
	Outcome PollOutcome

	// Interval is the device code's polling interval after this poll,
	// raised by each slow_down.
	Interval time.Duration

	// Authorization is the authorization as of this poll. For
	// PollRedeemed it carries the subject and scopes to put in tokens.
	Authorization Authorization
}

// Store keeps authorizations. Implementations are safe for concurrent use.
type Store interface {
	// Create stores a new pending authorization. It returns
	// ErrUserCodeTaken when another live authorization has the user code.
	Create(ctx context.Context, a Authorization) error

	// LookupUserCode returns the authorization with the normalized user
	// code, or ErrNotFound.
	LookupUserCode(ctx context.Context, userCode string) (Authorization, error)

	// Approve moves a pending authorization to approved for subject. It
	// returns ErrNotFound, ErrExpired or ErrNotPending.
	Approve(ctx context.Context, userCode, subject string, now time.Time) error

	// Deny moves a pending authorization to denied. It returns ErrNotFound,
	// ErrExpired or ErrNotPending.
	Deny(ctx context.Context, userCode, subject string, now time.Time) error

	// Poll applies one token-endpoint poll by clientID at now. It checks, in
	// this order, the client, expiry, the state and then the rate. An
	// approved authorization is redeemed atomically, so that of any number
	// of concurrent polls exactly one gets PollRedeemed. It returns
	// ErrNotFound for an unknown device code hash.
	Poll(ctx context.Context, deviceCodeHash, clientID string, now time.Time) (PollResult, error)

	// Ping reports whether the store is reachable, for readiness.
	Ping(ctx context.Context) error

	// Close releases the store's resources.
	Close() error
}
