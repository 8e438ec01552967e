package deviceflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/store"
	"github.com/deviceauth/deviceauth-operator/internal/usercode"
)

// deviceCodeBytes is the number of random bytes in a device code. A device
// code is never typed, so it can carry 256 bits, twice the 128 bits that
// make guessing one hopeless.
const deviceCodeBytes = 32

// userCodeAttempts bounds how many user codes one request draws before it
// gives up. A collision needs the same code among the live authorizations,
// so with at least 20^8 or 10^9 codes even 16 in a row are vanishingly
// unlikely unless the store is close to full.
const userCodeAttempts = 16

// deviceAuthorizationResponse is the response of RFC 8628 section 3.2.
type deviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// deviceAuthorization serves RFC 8628 section 3.1. It checks a
// confidential client's secret only when the request presents one,
// because common client libraries send client_id alone to this endpoint.
func (h *Handler) deviceAuthorization(r *http.Request, snap *config.Snapshot, ex *exchange) error {
	f, err := readForm(ex.w, r, paramClientID, paramClientSecret, paramScope)
	if err != nil {
		return err
	}
	creds, err := readCredentials(r, f)
	if err != nil {
		return err
	}
	client, err := authenticate(snap, creds, false)
	if client != nil {
		ex.clientID = client.ClientID
	}
	if err != nil {
		return err
	}
	scopes, err := grantedScopes(client, f.get(paramScope))
	if err != nil {
		return err
	}

	deviceCode, deviceCodeHash, err := newDeviceCode()
	if err != nil {
		return serverError("generating a device code failed", err)
	}
	now := h.clock()
	userCode, err := h.createAuthorization(r.Context(), client, scopes, deviceCodeHash, now)
	if err != nil {
		return err
	}

	formatted := usercode.Format(userCode)
	verificationURI := snap.Config.Issuer + VerificationPath
	ex.outcome = outcomeDeviceCodeIssued
	ex.writeJSON(http.StatusOK, deviceAuthorizationResponse{
		DeviceCode:              deviceCode,
		UserCode:                formatted,
		VerificationURI:         verificationURI,
		VerificationURIComplete: verificationURI + "?" + paramUserCode + "=" + url.QueryEscape(formatted),
		ExpiresIn:               int64(client.ExpiresInSeconds),
		Interval:                int64(client.IntervalSeconds),
	})
	return nil
}

// grantedScopes returns the scopes of a request's scope parameter, or all
// of the client's scopes when the parameter is absent or empty. A scope
// the client may not request is invalid_scope.
func grantedScopes(client *config.Client, requested string) ([]string, error) {
	if strings.TrimSpace(requested) == "" {
		return slices.Clone(client.Scopes), nil
	}
	var scopes []string
	for _, scope := range strings.Fields(requested) {
		if !slices.Contains(client.Scopes, scope) {
			return nil, newError(errInvalidScope, "the client may not request the scope %q", scope)
		}
		if !slices.Contains(scopes, scope) {
			scopes = append(scopes, scope)
		}
	}
	return scopes, nil
}

// newDeviceCode returns a random device code and the hex SHA-256 under
// which the store keeps it.
func newDeviceCode() (code, hash string, err error) {
	b := make([]byte, deviceCodeBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("reading random bytes: %w", err)
	}
	code = base64.RawURLEncoding.EncodeToString(b)
	return code, hashDeviceCode(code), nil
}

func hashDeviceCode(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// wellFormedDeviceCode reports whether code could have come from
// newDeviceCode, so that junk never reaches the store.
func wellFormedDeviceCode(code string) bool {
	if len(code) != base64.RawURLEncoding.EncodedLen(deviceCodeBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(code)
	return err == nil
}

// createAuthorization stores a pending authorization under a fresh user
// code, drawing another code while the store reports it taken, and returns
// the normalized user code.
func (h *Handler) createAuthorization(
	ctx context.Context,
	client *config.Client,
	scopes []string,
	deviceCodeHash string,
	now time.Time,
) (string, error) {
	for range userCodeAttempts {
		userCode, err := usercode.Generate(client.UserCodeCharset, int(client.UserCodeLength))
		if err != nil {
			return "", serverError("the client's user code settings are invalid",
				fmt.Errorf("client %q: %w", client.ClientID, err))
		}
		err = h.opts.Store.Create(ctx, store.Authorization{
			DeviceCodeHash: deviceCodeHash,
			UserCode:       userCode,
			ClientID:       client.ClientID,
			Scopes:         scopes,
			State:          store.StatePending,
			CreatedAt:      now,
			ExpiresAt:      now.Add(time.Duration(client.ExpiresInSeconds) * time.Second),
			Interval:       time.Duration(client.IntervalSeconds) * time.Second,
		})
		switch {
		case err == nil:
			return userCode, nil
		case errors.Is(err, store.ErrUserCodeTaken):
			h.metrics.userCodeCollisions.Inc()
			continue
		default:
			h.metrics.storeErrors.WithLabelValues("create").Inc()
			return "", unavailable("the authorization store is unavailable; retry shortly",
				fmt.Errorf("creating authorization: %w", err))
		}
	}
	return "", unavailable("no free user code was found; retry shortly",
		fmt.Errorf("client %q: %d user codes in a row were taken", client.ClientID, userCodeAttempts))
}
