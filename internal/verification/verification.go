// Package verification serves the verification page of the device flow
// (RFC 8628 section 3.3): a person signs in, enters or confirms the user
// code that their device shows, and approves or denies the request. The
// page is plain HTML forms and works without JavaScript.
//
// Every POST must pass two CSRF checks: net/http's CrossOriginProtection
// (Sec-Fetch-Site and Origin) and a token derived from a per-browser cookie
// under the session key. The user code reaches the page in exactly one URL,
// verification_uri_complete. Later steps carry it in form fields, and every
// response sets Referrer-Policy: no-referrer so that the URL does not leak.
package verification

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/htpasswd"
	"github.com/deviceauth/deviceauth-operator/internal/store"
)

// PagePath is the path of the page under the issuer's path.
const PagePath = "/device"

// maxFormBytes bounds a POST body. The largest form, sign-in, needs well
// under 1 KiB.
const maxFormBytes = 16 << 10

// Options configure a Handler. Store, Config, Users and SessionKey are
// required. The functions are called on every request, so the server can
// swap what they return when the mounted files change.
type Options struct {
	// Store holds the device authorizations.
	Store store.Store

	// Clock returns the current time. Defaults to time.Now.
	Clock func() time.Time

	// Config returns the current configuration: the issuer and the client
	// registry. A nil snapshot makes the page unavailable.
	Config func() *config.Snapshot

	// Users returns the users who may sign in. A nil *htpasswd.Users lets no
	// one sign in.
	Users func() *htpasswd.Users

	// SessionKey returns the key, at least MinSessionKeyBytes long, that
	// signs the session and CSRF cookies. Changing it signs everyone out.
	SessionKey func() []byte

	// Logger receives one line per approval or denial and the errors the
	// page cannot show. Defaults to discarding.
	Logger logr.Logger

	// PathPrefix is the path of the issuer URL, such as "/tenant" for
	// https://host/tenant, under which the page is served. Empty means the
	// path of the issuer that Config returns when New runs.
	PathPrefix string
}

// Handler serves the verification page.
type Handler struct {
	store      store.Store
	clock      func() time.Time
	config     func() *config.Snapshot
	users      func() *htpasswd.Users
	sessionKey func() []byte
	log        logr.Logger

	pagePath    string
	stylePath   string
	crossOrigin *http.CrossOriginProtection

	signInsByUser    *limiter
	signInsByAddress *limiter
	userCodesByUser  *limiter
}

// New returns a Handler. It panics when a required option is missing.
func New(opts Options) *Handler {
	if opts.Store == nil || opts.Config == nil || opts.Users == nil || opts.SessionKey == nil {
		panic("verification.New: Store, Config, Users and SessionKey are required")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.PathPrefix == "" {
		opts.PathPrefix = issuerPath(opts.Config(), opts.Logger)
	}
	prefix := strings.TrimSuffix(opts.PathPrefix, "/")

	h := &Handler{
		store:      opts.Store,
		clock:      opts.Clock,
		config:     opts.Config,
		users:      opts.Users,
		sessionKey: opts.SessionKey,
		log:        opts.Logger,

		pagePath:    prefix + PagePath,
		stylePath:   prefix + PagePath + "/style.css",
		crossOrigin: http.NewCrossOriginProtection(),

		signInsByUser:    newLimiter(MaxFailedSignInsPerUser, RateLimitWindow),
		signInsByAddress: newLimiter(MaxFailedSignInsPerAddress, RateLimitWindow),
		userCodesByUser:  newLimiter(MaxWrongUserCodesPerUser, RateLimitWindow),
	}
	h.crossOrigin.SetDenyHandler(http.HandlerFunc(h.rejectCrossOrigin))
	return h
}

// PathPrefixFromIssuer returns the path of an issuer URL without a
// trailing slash: "" for https://host and "/tenant" for https://host/tenant.
func PathPrefixFromIssuer(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", fmt.Errorf("parsing issuer %q: %w", issuer, err)
	}
	return strings.TrimSuffix(u.Path, "/"), nil
}

func issuerPath(snapshot *config.Snapshot, log logr.Logger) string {
	if snapshot == nil || snapshot.Config == nil {
		return ""
	}
	prefix, err := PathPrefixFromIssuer(snapshot.Config.Issuer)
	if err != nil {
		log.Error(err, "Serving the verification page at the root path")
		return ""
	}
	return prefix
}

// PagePath returns the path the page is served at, such as /tenant/device.
func (h *Handler) PagePath() string { return h.pagePath }

// Register adds the page's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET "+h.pagePath, h.withHeaders(http.HandlerFunc(h.serveGet)))
	mux.Handle("POST "+h.pagePath, h.withHeaders(h.crossOrigin.Handler(http.HandlerFunc(h.servePost))))
	mux.Handle("GET "+h.stylePath, h.withHeaders(http.HandlerFunc(serveStyle)))
}

// contentSecurityPolicy allows the page's own stylesheet and form posts to
// its own origin, and nothing else: no scripts, images or framing.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// withHeaders sets the security headers of every response. no-referrer
// matters most: the page URL can carry the user code.
func (h *Handler) withHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := w.Header()
		header.Set("Content-Security-Policy", contentSecurityPolicy)
		header.Set("X-Frame-Options", "DENY")
		header.Set("Referrer-Policy", "no-referrer")
		header.Set("Cache-Control", "no-store")
		header.Set("X-Content-Type-Options", "nosniff")
		header.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// pageError is a failure shown to the person as an error page. message is
// the text shown. cause, when set, is logged and never shown.
type pageError struct {
	status  int
	message string
	cause   error
}

func (e *pageError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %v", e.status, e.message, e.cause)
	}
	return fmt.Sprintf("%d %s", e.status, e.message)
}

func (e *pageError) Unwrap() error { return e.cause }

// Texts of the error pages.
const (
	messageUnavailable = "The sign-in service is unavailable right now. Try again in a minute."
	messageNoCookie    = "Your browser did not send back the cookie this page set. " +
		"Allow cookies for this site, then start again."
	messageBadToken = "This form has expired or was not sent from this page. Start again."
	messageBadForm  = "The form could not be read. Start again."
)

// serve runs one step of the flow and turns its error into an error page
// and, for server-side failures, a log line.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, step func(*exchange) error) {
	x, err := h.begin(w, r)
	if err == nil {
		err = step(x)
	}
	if err == nil {
		return
	}

	var pe *pageError
	if !errors.As(err, &pe) {
		pe = &pageError{status: http.StatusInternalServerError, message: messageUnavailable, cause: err}
	}
	if pe.status >= 500 {
		h.log.Error(pe.cause, "Verification page failed", "status", pe.status)
	}
	h.renderError(w, pe.status, pe.message)
}

func (h *Handler) rejectCrossOrigin(w http.ResponseWriter, r *http.Request) {
	h.log.V(1).Info("Rejected cross-origin form post")
	h.renderError(w, http.StatusForbidden,
		"This form was sent from another site, so it was rejected. Open this page directly and try again.")
}

// clientAddress returns the IP address of the peer, without the port.
//
// NOTE: behind a reverse proxy every person shares the proxy's address, so
// the per-address limit applies to all of them together.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
