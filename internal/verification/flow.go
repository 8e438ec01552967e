package verification

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/store"
	"github.com/deviceauth/deviceauth-operator/internal/usercode"
)

// Form field names and the values of the action button.
const (
	fieldCSRFToken = "csrf_token"
	fieldUserCode  = "user_code"
	fieldUsername  = "username"
	fieldPassword  = "password"
	fieldAction    = "action"

	actionSignIn  = "sign_in"
	actionSignOut = "sign_out"
	actionLookup  = "lookup"
	actionApprove = "approve"
	actionDeny    = "deny"
)

// maxUsernameBytes bounds the user names kept by the rate limiter.
const maxUsernameBytes = 256

// messageInvalidCode is the one message shown for every user code that
// cannot be approved. Telling unknown, expired and used codes apart would
// help someone who guesses codes.
const messageInvalidCode = "That code is not valid. It may be mistyped, expired or already used. " +
	"Check the code on your device, or start again there to get a new one."

// exchange is one request with what begin derived from it.
type exchange struct {
	w        http.ResponseWriter
	r        *http.Request
	now      time.Time
	key      []byte
	snapshot *config.Snapshot
	cookies  cookieJar

	// browserID is the browser's ID, or "" when it sent no valid one.
	browserID string

	// user is the signed-in user, or "" when there is no valid session.
	user string
}

// begin reads the configuration and the cookies of a request.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request) (*exchange, error) {
	key := h.sessionKey()
	if len(key) < MinSessionKeyBytes {
		return nil, &pageError{
			status:  http.StatusServiceUnavailable,
			message: messageUnavailable,
			cause:   fmt.Errorf("session key has %d bytes, need at least %d", len(key), MinSessionKeyBytes),
		}
	}
	snapshot := h.config()
	if snapshot == nil || snapshot.Config == nil {
		return nil, &pageError{
			status:  http.StatusServiceUnavailable,
			message: messageUnavailable,
			cause:   errors.New("no configuration loaded"),
		}
	}

	x := &exchange{
		w:        w,
		r:        r,
		now:      h.clock(),
		key:      key,
		snapshot: snapshot,
		cookies: cookieJar{
			path:   h.pagePath,
			secure: strings.HasPrefix(snapshot.Config.Issuer, "https://"),
		},
	}
	if c, err := r.Cookie(browserCookie); err == nil && validBrowserID(c.Value) {
		x.browserID = c.Value
	}
	if x.browserID != "" {
		x.user = h.sessionUser(r, x)
	}
	return x, nil
}

// sessionUser returns the user of a valid session cookie that belongs to
// this browser and names a user who still exists, or "".
func (h *Handler) sessionUser(r *http.Request, x *exchange) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	s, ok := decodeSession(x.key, c.Value, x.now)
	if !ok || s.browserID != x.browserID || !h.users().Contains(s.user) {
		return ""
	}
	return s.user
}

func (h *Handler) serveGet(w http.ResponseWriter, r *http.Request) { h.serve(w, r, h.show) }

func (h *Handler) servePost(w http.ResponseWriter, r *http.Request) { h.serve(w, r, h.submit) }

// show serves GET with the sign-in form, or the code form when signed in.
// A user_code query parameter, as in verification_uri_complete, pre-fills
// the code, which the person still has to submit.
func (h *Handler) show(x *exchange) error {
	if x.browserID == "" {
		x.browserID = newBrowserID()
		x.cookies.setBrowser(x.w, x.browserID)
	}
	code, _ := usercode.Normalize(x.r.URL.Query().Get(fieldUserCode))
	if x.user == "" {
		return h.renderSignIn(x, http.StatusOK, code, "", "")
	}
	return h.renderCodeForm(x, http.StatusOK, code, "")
}

// submit serves POST. It checks the CSRF token, then dispatches on the
// button that submitted the form.
func (h *Handler) submit(x *exchange) error {
	x.r.Body = http.MaxBytesReader(x.w, x.r.Body, maxFormBytes)
	if err := x.r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &pageError{status: http.StatusRequestEntityTooLarge, message: messageBadForm}
		}
		return &pageError{status: http.StatusBadRequest, message: messageBadForm}
	}

	if x.browserID == "" {
		x.browserID = newBrowserID()
		x.cookies.setBrowser(x.w, x.browserID)
		return &pageError{status: http.StatusForbidden, message: messageNoCookie}
	}
	if !validCSRFToken(x.key, x.browserID, x.r.PostForm.Get(fieldCSRFToken)) {
		h.log.V(1).Info("Rejected form post without a valid CSRF token")
		return &pageError{status: http.StatusForbidden, message: messageBadToken}
	}

	action := x.r.PostForm.Get(fieldAction)
	switch action {
	case actionSignIn:
		return h.signIn(x)
	case actionSignOut:
		return h.signOut(x)
	}

	if x.user == "" {
		code, _ := usercode.Normalize(x.r.PostForm.Get(fieldUserCode))
		return h.renderSignIn(x, http.StatusOK, code, "", "Your session has ended. Sign in again to continue.")
	}
	switch action {
	case actionLookup:
		return h.lookup(x)
	case actionApprove:
		return h.decide(x, true)
	case actionDeny:
		return h.decide(x, false)
	}
	return &pageError{status: http.StatusBadRequest, message: messageBadForm}
}

// signIn checks a username and password against the htpasswd users.
func (h *Handler) signIn(x *exchange) error {
	username := x.r.PostForm.Get(fieldUsername)
	password := x.r.PostForm.Get(fieldPassword)
	code, _ := usercode.Normalize(x.r.PostForm.Get(fieldUserCode))
	address := clientAddress(x.r)
	// A name this long is treated as unknown. Cutting it keeps the
	// limiter's keys small, and the cut name never reaches Authenticate.
	tooLong := len(username) > maxUsernameBytes
	if tooLong {
		username = username[:maxUsernameBytes]
	}

	wait := max(h.signInsByUser.retryAfter(username, x.now), h.signInsByAddress.retryAfter(address, x.now))
	if wait > 0 {
		return h.renderSignIn(x, http.StatusTooManyRequests, code, username,
			"Too many failed sign-ins. Try again in "+minutes(wait)+".")
	}

	if username == "" || tooLong || !h.users().Authenticate(username, password) {
		if h.signInsByUser.fail(username, x.now) {
			// The user name stays out of the log: people sometimes type
			// their password into that field.
			h.log.Info("Locked a user name after too many failed sign-ins")
		}
		if h.signInsByAddress.fail(address, x.now) {
			h.log.Info("Locked an address after too many failed sign-ins", "address", address)
		}
		return h.renderSignIn(x, http.StatusOK, code, username, "Wrong username or password.")
	}
	h.signInsByUser.reset(username)

	// A fresh browser ID at sign-in means a CSRF token seen before sign-in,
	// or a browser ID planted by someone else, is worthless afterwards.
	x.browserID = newBrowserID()
	x.cookies.setBrowser(x.w, x.browserID)
	s := session{user: username, browserID: x.browserID, expires: x.now.Add(SessionLifetime)}
	x.cookies.setSession(x.w, x.key, s, x.now)
	x.user = username
	h.log.Info("Signed in", "user", username)

	return h.renderCodeForm(x, http.StatusOK, code, "")
}

func (h *Handler) signOut(x *exchange) error {
	x.cookies.clearSession(x.w)
	x.browserID = newBrowserID()
	x.cookies.setBrowser(x.w, x.browserID)
	x.user = ""
	return h.renderSignIn(x, http.StatusOK, "", "", "You are signed out.")
}

// lookup finds the authorization of a user code and shows it for
// confirmation.
func (h *Handler) lookup(x *exchange) error {
	if wait := h.userCodesByUser.retryAfter(x.user, x.now); wait > 0 {
		return h.renderTooManyCodes(x, wait)
	}

	input := x.r.PostForm.Get(fieldUserCode)
	if strings.TrimSpace(input) == "" {
		return h.renderCodeForm(x, http.StatusOK, "", "Enter the code shown on your device.")
	}
	code, ok := usercode.Normalize(input)
	if !ok {
		// Malformed input cannot match any code, so it is not counted as a
		// guess.
		return h.renderCodeForm(x, http.StatusOK, "", messageInvalidCode)
	}

	auth, client, err := h.findPending(x, code)
	if err != nil {
		return err
	}
	if client == nil {
		return h.failUserCode(x)
	}
	return h.renderConfirm(x, auth, client)
}

// findPending looks up a pending, unexpired authorization whose client is
// still configured. It returns a nil client, and no error, for any code
// that cannot be approved.
func (h *Handler) findPending(x *exchange, code string) (store.Authorization, *config.Client, error) {
	auth, err := h.store.LookupUserCode(x.r.Context(), code)
	if errors.Is(err, store.ErrNotFound) {
		return store.Authorization{}, nil, nil
	}
	if err != nil {
		return store.Authorization{}, nil, &pageError{
			status:  http.StatusServiceUnavailable,
			message: messageUnavailable,
			cause:   fmt.Errorf("looking up user code: %w", err),
		}
	}
	if auth.State != store.StatePending || !x.now.Before(auth.ExpiresAt) {
		return store.Authorization{}, nil, nil
	}
	client, ok := x.snapshot.Client(auth.ClientID)
	if !ok {
		return store.Authorization{}, nil, nil
	}
	return auth, client, nil
}

// decide approves or denies the authorization of the submitted user code
// for the signed-in user.
func (h *Handler) decide(x *exchange, approve bool) error {
	// A decision on a guessed code is a guess too, so it counts against the
	// same limit as lookup.
	if wait := h.userCodesByUser.retryAfter(x.user, x.now); wait > 0 {
		return h.renderTooManyCodes(x, wait)
	}
	code, ok := usercode.Normalize(x.r.PostForm.Get(fieldUserCode))
	if !ok {
		return h.renderCodeForm(x, http.StatusOK, "", messageInvalidCode)
	}

	auth, client, err := h.findPending(x, code)
	if err != nil {
		return err
	}
	if client != nil {
		if approve {
			err = h.store.Approve(x.r.Context(), code, x.user, x.now)
		} else {
			err = h.store.Deny(x.r.Context(), code, x.user, x.now)
		}
	}
	switch {
	case client == nil, errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired),
		errors.Is(err, store.ErrNotPending):
		return h.failUserCode(x)
	case err != nil:
		return &pageError{
			status:  http.StatusServiceUnavailable,
			message: messageUnavailable,
			cause:   fmt.Errorf("recording decision: %w", err),
		}
	}

	if approve {
		h.log.Info("Device authorization approved", "clientID", auth.ClientID, "user", x.user)
	} else {
		h.log.Info("Device authorization denied", "clientID", auth.ClientID, "user", x.user)
	}
	return h.renderDone(x, approve)
}

// failUserCode counts a wrong user code and shows the code form again.
func (h *Handler) failUserCode(x *exchange) error {
	if h.userCodesByUser.fail(x.user, x.now) {
		h.log.Info("Locked user code entry after too many wrong codes", "user", x.user)
	}
	return h.renderCodeForm(x, http.StatusOK, "", messageInvalidCode)
}

func (h *Handler) renderTooManyCodes(x *exchange, wait time.Duration) error {
	return h.renderCodeForm(x, http.StatusTooManyRequests, "",
		"Too many wrong codes. Try again in "+minutes(wait)+".")
}

// minutes formats a wait, rounded up to whole minutes, for a person.
func minutes(d time.Duration) string {
	n := int(math.Ceil(d.Minutes()))
	if n <= 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", n)
}
