// Package deviceflow serves the OAuth 2.0 Device Authorization Grant
// (RFC 8628): the device authorization and token endpoints, the
// authorization server metadata (RFC 8414) and the JWK Set that verifies
// the access tokens it issues.
//
// The routes sit below the issuer's path, which is fixed when New runs. A
// reload may change the issuer's scheme and host. A reload that changes its
// path makes every endpoint return 503 until the server restarts, because
// http.ServeMux cannot move registered routes.
package deviceflow

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/keys"
	"github.com/deviceauth/deviceauth-operator/internal/store"
)

// Options configure a Handler.
type Options struct {
	// Store keeps the authorizations. Required.
	Store store.Store

	// Clock returns the current time. Default time.Now.
	Clock func() time.Time

	// Config returns the configuration in force. The handler calls it once
	// per request, so a reload swaps the whole snapshot at once. Required.
	Config func() *config.Snapshot

	// Keys returns the key material in force, called once per request that
	// needs it. Required.
	Keys func() *keys.Set

	// Logger receives one line per request and the errors behind failed
	// requests. Default: discard.
	Logger logr.Logger

	// Registerer, when set, registers the handler's metrics.
	Registerer prometheus.Registerer
}

// Handler serves the device flow's endpoints.
type Handler struct {
	opts    Options
	clock   func() time.Time
	log     logr.Logger
	metrics *metrics

	// pathPrefix is the issuer's path when New ran, without a trailing
	// slash; routes sit below it.
	pathPrefix string

	// issuer caches the issuerState of the latest snapshot.
	issuer atomic.Pointer[issuerState]
}

// issuerState is the handler's data derived from one config snapshot.
type issuerState struct {
	snap   *config.Snapshot
	issuer string
	err    error

	// metadata is the JSON authorization server metadata document.
	metadata []byte
}

// New returns a Handler. It panics when a required option is missing.
func New(opts Options) *Handler {
	if opts.Store == nil || opts.Config == nil || opts.Keys == nil {
		panic("deviceflow: Options.Store, Options.Config and Options.Keys are required")
	}
	h := &Handler{
		opts:    opts,
		clock:   opts.Clock,
		log:     opts.Logger,
		metrics: newMetrics(opts.Registerer),
	}
	if h.clock == nil {
		h.clock = time.Now
	}
	if snap := opts.Config(); snap != nil {
		// An invalid issuer leaves the routes at the root. Requests then
		// fail with the issuer's error, which the log shows.
		h.pathPrefix, _ = IssuerPath(snap.Config.Issuer)
	}
	return h
}

// Register adds the endpoints to mux. The protocol endpoints sit below the
// issuer's path. The RFC 8414 metadata sits at its well-known path followed
// by the issuer's path, and the OpenID Connect discovery document at the
// issuer's path followed by its well-known path.
func (h *Handler) Register(mux *http.ServeMux) {
	p := h.pathPrefix
	mux.Handle("POST "+p+DeviceAuthorizationPath, h.endpoint(endpointDeviceAuthorization, h.deviceAuthorization))
	mux.Handle("POST "+p+TokenPath, h.endpoint(endpointToken, h.token))
	mux.Handle("GET "+p+JWKSPath, h.endpoint(endpointJWKS, h.jwks))
	mux.Handle("GET "+OAuthMetadataPath+p, h.endpoint(endpointMetadata, h.metadata))
	mux.Handle("GET "+p+OpenIDConfigurationPath, h.endpoint(endpointMetadata, h.metadata))
}

// IssuerPath returns the path of an issuer URL, "" when it has none. The
// issuer must be an absolute http or https URL without user info, query,
// fragment or trailing slash. Its path segments must be non-empty, must
// not be "." or "..", and may contain only letters, digits and -._~.
func IssuerPath(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", fmt.Errorf("issuer %q is not a URL: %w", issuer, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("issuer %q must be an http or https URL", issuer)
	case u.Host == "":
		return "", fmt.Errorf("issuer %q has no host", issuer)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "":
		return "", fmt.Errorf("issuer %q must have no user info, query or fragment", issuer)
	case strings.HasSuffix(issuer, "/"):
		return "", fmt.Errorf("issuer %q must not end with a slash", issuer)
	}
	if u.Path == "" {
		return "", nil
	}
	for _, segment := range strings.Split(strings.TrimPrefix(u.Path, "/"), "/") {
		if segment == "" || segment == "." || segment == ".." || strings.Trim(segment, pathChars) != "" {
			return "", fmt.Errorf("issuer %q has a path segment %q that is empty, a dot segment, "+
				"or has characters other than letters, digits and -._~", issuer, segment)
		}
	}
	if u.EscapedPath() != u.Path {
		return "", fmt.Errorf("issuer %q has percent-encoded characters in its path", issuer)
	}
	return u.Path, nil
}

// pathChars are the RFC 3986 unreserved characters, which need no
// escaping in a URL and have no meaning in an http.ServeMux pattern.
const pathChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

// currentIssuer returns what derives from snap, computing it once per
// snapshot.
func (h *Handler) currentIssuer(snap *config.Snapshot) *issuerState {
	if st := h.issuer.Load(); st != nil && st.snap == snap {
		return st
	}
	st := newIssuerState(snap, h.pathPrefix)
	h.issuer.Store(st)
	return st
}

func newIssuerState(snap *config.Snapshot, pathPrefix string) *issuerState {
	st := &issuerState{snap: snap, issuer: snap.Config.Issuer}
	path, err := IssuerPath(st.issuer)
	switch {
	case err != nil:
		st.err = err
		return st
	case path != pathPrefix:
		st.err = fmt.Errorf("issuer path changed from %q to %q; the server serves the new path after a restart",
			pathPrefix, path)
		return st
	}
	st.metadata, st.err = marshalMetadata(snap)
	return st
}

// endpointFunc handles one request to an endpoint. It writes the response
// itself on success, and returns an error, ideally an *oauthError, that
// the caller turns into the error response.
type endpointFunc func(r *http.Request, snap *config.Snapshot, ex *exchange) error

// endpointName names an endpoint in metrics.
type endpointName string

const (
	endpointDeviceAuthorization endpointName = "device_authorization"
	endpointToken               endpointName = "token"
	endpointJWKS                endpointName = "jwks"
	endpointMetadata            endpointName = "metadata"
)

// endpoint adapts fn to http.Handler. It is the one place that writes
// error responses, counts responses and logs each request once.
func (h *Handler) endpoint(name endpointName, fn endpointFunc) http.Handler {
	noStore := name == endpointDeviceAuthorization || name == endpointToken
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ex := &exchange{w: w, noStore: noStore}

		err := h.serve(r, fn, ex)
		var oe *oauthError
		if err != nil {
			oe = ex.writeError(err)
		}
		h.metrics.observe(name, ex)
		h.logExchange(r, ex, oe, time.Since(start))
	})
}

func (h *Handler) serve(r *http.Request, fn endpointFunc, ex *exchange) error {
	snap := h.opts.Config()
	if snap == nil {
		return unavailable("the server has no configuration loaded", errors.New("no config snapshot"))
	}
	if st := h.currentIssuer(snap); st.err != nil {
		return unavailable("the server's issuer is misconfigured", st.err)
	}
	return fn(r, snap, ex)
}

// logExchange writes the request's one log line. It logs the path without
// the query string, the registered client ID and the outcome, but never a
// code, token or secret.
func (h *Handler) logExchange(r *http.Request, ex *exchange, oe *oauthError, elapsed time.Duration) {
	kv := []any{
		"method", r.Method,
		"path", r.URL.Path,
		"status", ex.status,
		"outcome", ex.outcome,
		"durationMs", elapsed.Milliseconds(),
	}
	if ex.clientID != "" {
		kv = append(kv, "clientID", ex.clientID)
	}

	switch {
	case oe != nil && oe.cause != nil:
		h.log.Error(oe.cause, "Request failed", kv...)
	case ex.writeErr != nil:
		h.log.Error(ex.writeErr, "Sending the response failed", kv...)
	case ex.outcome == outcomeDeviceCodeIssued || ex.outcome == outcomeAccessTokenIssued:
		h.log.Info("Handled request", kv...)
	default:
		h.log.V(1).Info("Handled request", kv...)
	}
}
