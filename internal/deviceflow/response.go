package deviceflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"
)

// oauthError is an error response: the public code and description sent
// to the client, and an internal cause that only the log records.
type oauthError struct {
	code        string
	description string

	// status is the HTTP status; zero means 400.
	status int

	// interval is the polling interval sent with slow_down.
	interval time.Duration

	// basicChallenge marks invalid_client for a client that tried HTTP
	// Basic, for which RFC 6749 section 5.2 requires status 401 and a
	// WWW-Authenticate challenge.
	basicChallenge bool

	cause error
}

func (e *oauthError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.code, e.description, e.cause)
	}
	return e.code + ": " + e.description
}

func (e *oauthError) Unwrap() error { return e.cause }

// newError returns a 400 error response with a description formatted
// from format and args, which must never contain a code or secret.
func newError(code, format string, args ...any) *oauthError {
	return &oauthError{code: code, description: fmt.Sprintf(format, args...)}
}

// unavailable returns a 503 temporarily_unavailable response for a failure
// that a retry may fix, and keeps cause for the log.
func unavailable(description string, cause error) *oauthError {
	return &oauthError{
		code:        errTemporarilyUnavailable,
		description: description,
		status:      http.StatusServiceUnavailable,
		cause:       cause,
	}
}

// serverError returns a 500 server_error response and keeps cause for
// the log.
func serverError(description string, cause error) *oauthError {
	return &oauthError{
		code:        errServerError,
		description: description,
		status:      http.StatusInternalServerError,
		cause:       cause,
	}
}

// errorBody is the JSON error response of RFC 6749 section 5.2, with the
// interval member that RFC 8628 section 3.5 allows for slow_down.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Interval         int64  `json:"interval,omitempty"`
}

// exchange is one request as the log line and metrics report it.
type exchange struct {
	w http.ResponseWriter

	// noStore adds the Cache-Control and Pragma headers that RFC 6749
	// section 5.1 requires on responses carrying tokens or codes.
	noStore bool

	// clientID is set once the request names a registered client. Unknown
	// client IDs stay out of logs and metric labels: they are arbitrary
	// input, unbounded in number, and could be a mistyped secret.
	clientID string

	outcome  string
	status   int
	writeErr error
}

// writeJSON sends v as the JSON response body with status.
func (ex *exchange) writeJSON(status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		ex.writeErr = fmt.Errorf("encoding response: %w", err)
		status = http.StatusInternalServerError
		body = []byte(`{"error":"server_error","error_description":"encoding the response failed"}`)
	}

	header := ex.w.Header()
	header.Set("Content-Type", "application/json")
	if ex.noStore {
		header.Set("Cache-Control", "no-store")
		header.Set("Pragma", "no-cache")
	}
	ex.status = status
	ex.w.WriteHeader(status)
	if _, err := ex.w.Write(body); err != nil && ex.writeErr == nil {
		ex.writeErr = fmt.Errorf("writing response: %w", err)
	}
}

// writeError sends err as an OAuth error response. An error that is not an
// *oauthError is a bug or an unexpected failure and becomes server_error.
func (ex *exchange) writeError(err error) *oauthError {
	var oe *oauthError
	if !errors.As(err, &oe) {
		oe = serverError("the server failed to handle the request", err)
	}

	status := oe.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	if oe.basicChallenge {
		status = http.StatusUnauthorized
		ex.w.Header().Set("WWW-Authenticate", `Basic realm="`+basicRealm+`"`)
	}

	ex.outcome = oe.code
	ex.writeJSON(status, errorBody{
		Error:            oe.code,
		ErrorDescription: oe.description,
		Interval:         seconds(oe.interval),
	})
	return oe
}

// seconds returns d in whole seconds, rounded up so that a client waiting
// that long never polls early.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}
