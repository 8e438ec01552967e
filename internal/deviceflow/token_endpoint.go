package deviceflow

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/store"
	"github.com/deviceauth/deviceauth-operator/internal/token"
)

// tokenResponse is the access token response of RFC 6749 section 5.1.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// token serves the device access token request of RFC 8628 section 3.4.
// The order of checks is what clients depend on: the body, grant_type, the
// client, device_code, then expiry, state and rate inside Store.Poll.
func (h *Handler) token(r *http.Request, snap *config.Snapshot, ex *exchange) error {
	f, err := readForm(ex.w, r, paramGrantType, paramClientID, paramClientSecret, paramDeviceCode)
	if err != nil {
		return err
	}

	switch grantType := f.get(paramGrantType); grantType {
	case "":
		return newError(errInvalidRequest, "the parameter %s is missing", paramGrantType)
	case GrantTypeDeviceCode:
	default:
		return newError(errUnsupportedGrantType, "the server supports only the grant type %s", GrantTypeDeviceCode)
	}

	creds, err := readCredentials(r, f)
	if err != nil {
		return err
	}
	client, err := authenticate(snap, creds, true)
	if client != nil {
		ex.clientID = client.ClientID
	}
	if err != nil {
		return err
	}

	deviceCode := f.get(paramDeviceCode)
	if deviceCode == "" {
		return newError(errInvalidRequest, "the parameter %s is missing", paramDeviceCode)
	}
	if !wellFormedDeviceCode(deviceCode) {
		return unknownDeviceCode()
	}

	now := h.clock()
	result, err := h.opts.Store.Poll(r.Context(), hashDeviceCode(deviceCode), client.ClientID, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return unknownDeviceCode()
	case err != nil:
		return h.storeUnavailable(client, err)
	}
	return h.respondToPoll(snap, client, result, now, ex)
}

// respondToPoll turns the store's decision into the response.
func (h *Handler) respondToPoll(
	snap *config.Snapshot,
	client *config.Client,
	result store.PollResult,
	now time.Time,
	ex *exchange,
) error {
	switch result.Outcome {
	case store.PollRedeemed:
		return h.issueAccessToken(snap, client, result.Authorization, now, ex)
	case store.PollWrongClient:
		return unknownDeviceCode()
	case store.PollAlreadyRedeemed:
		return newError(errInvalidGrant, "the device_code was already redeemed")
	case store.PollExpired:
		return newError(errExpiredToken, "the device_code expired; start a new device authorization")
	case store.PollDenied:
		return newError(errAccessDenied, "the user denied the authorization request")
	case store.PollSlowDown:
		return slowDown("the client polled before its interval passed", result.Interval, nil)
	case store.PollPending:
		return newError(errAuthorizationPending, "the user has not completed the authorization yet")
	}
	return serverError("the server failed to handle the request",
		fmt.Errorf("store returned unknown poll outcome %q for client %q", result.Outcome, client.ClientID))
}

// unknownDeviceCode returns the one error for a device code that is
// malformed, unknown or another client's, so that a client learns nothing
// about codes it was not issued.
func unknownDeviceCode() error {
	return newError(errInvalidGrant, "the device_code is unknown or was issued to another client")
}

func slowDown(description string, interval time.Duration, cause error) error {
	return &oauthError{code: errSlowDown, description: description, interval: interval, cause: cause}
}

// storeUnavailable returns slow_down, rather than a 5xx, for a poll that
// the store failed to decide, so that clients keep polling through a short
// outage. The interval is the client's plus one step, as if the poll had
// come early.
func (h *Handler) storeUnavailable(client *config.Client, err error) error {
	h.metrics.storeErrors.WithLabelValues("poll").Inc()
	interval := time.Duration(client.IntervalSeconds)*time.Second + store.SlowDownStep
	return slowDown("the server is busy; poll less often", interval, fmt.Errorf("polling the store: %w", err))
}

// issueAccessToken signs the access token of a redeemed authorization,
// with the approved scopes that the client may still request.
func (h *Handler) issueAccessToken(
	snap *config.Snapshot,
	client *config.Client,
	auth store.Authorization,
	now time.Time,
	ex *exchange,
) error {
	lifetime := time.Duration(snap.Config.AccessTokenLifetimeSeconds) * time.Second
	scopes := client.GrantableScopes(auth.Scopes)
	// NOTE: the store has already marked the authorization redeemed, so a
	// signing failure here costs the user a new device authorization.
	signed, err := token.Sign(h.opts.Keys(), token.AccessToken{
		Issuer:   snap.Config.Issuer,
		Subject:  auth.Subject,
		ClientID: auth.ClientID,
		Scopes:   scopes,
		IssuedAt: now,
		Lifetime: lifetime,
	})
	if err != nil {
		return serverError("issuing the access token failed", err)
	}

	ex.outcome = outcomeAccessTokenIssued
	ex.writeJSON(http.StatusOK, tokenResponse{
		AccessToken: signed,
		TokenType:   tokenTypeBearer,
		ExpiresIn:   seconds(lifetime),
		Scope:       strings.Join(scopes, " "),
	})
	return nil
}
