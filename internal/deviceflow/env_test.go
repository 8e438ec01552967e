package deviceflow_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	clocktesting "k8s.io/utils/clock/testing"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/deviceflow"
	"github.com/deviceauth/deviceauth-operator/internal/keys"
	"github.com/deviceauth/deviceauth-operator/internal/logtest"
	"github.com/deviceauth/deviceauth-operator/internal/store"
	"github.com/deviceauth/deviceauth-operator/internal/usercode"
)

const (
	issuerNoPath   = "https://auth.example.test"
	issuerWithPath = "https://auth.example.test/tenant"

	publicClient       = "public-cli"
	confidentialClient = "confidential-cli"
	digitsClient       = "digits-cli"

	// confidentialSecret has characters that form-url-encoding changes, so
	// that tests tell encoded HTTP Basic credentials from raw ones.
	confidentialSecret = "s3cret+value/with&chars"

	tokenLifetime = 15 * time.Minute
)

var generatedKeys = sync.OnceValues(keys.Generate)

func testKeys(t testing.TB) *keys.Set {
	t.Helper()
	set, err := generatedKeys()
	if err != nil {
		t.Fatalf("generating keys: %v", err)
	}
	return set
}

func secretSHA256(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func testConfig(issuer string) *config.Config {
	return &config.Config{
		Issuer:                     issuer,
		AccessTokenLifetimeSeconds: int32(tokenLifetime / time.Second),
		Clients: []config.Client{
			{
				ClientID:         confidentialClient,
				Type:             config.ClientTypeConfidential,
				SecretSHA256:     secretSHA256(confidentialSecret),
				Scopes:           []string{"openid", "deploy"},
				IntervalSeconds:  5,
				ExpiresInSeconds: 300,
				UserCodeCharset:  config.UserCodeLetters,
				UserCodeLength:   8,
			},
			{
				ClientID:         digitsClient,
				Type:             config.ClientTypePublic,
				IntervalSeconds:  10,
				ExpiresInSeconds: 600,
				UserCodeCharset:  config.UserCodeDigits,
				UserCodeLength:   9,
			},
			{
				ClientID:         publicClient,
				Type:             config.ClientTypePublic,
				Scopes:           []string{"openid", "profile", "groups"},
				IntervalSeconds:  5,
				ExpiresInSeconds: 300,
				UserCodeCharset:  config.UserCodeLetters,
				UserCodeLength:   8,
			},
		},
	}
}

// env is a handler on a real Memory store with a frozen clock, a config
// that tests may swap, and captured logs and metrics.
type env struct {
	t        testing.TB
	clock    *clocktesting.FakeClock
	memory   *store.Memory
	snap     atomic.Pointer[config.Snapshot]
	keys     *keys.Set
	registry *prometheus.Registry
	logs     *logtest.Recorder
	mux      *http.ServeMux
	prefix   string
}

type envOptions struct {
	issuer       string
	wrapStore    func(store.Store) store.Store
	logVerbosity int
}

type envOption func(*envOptions)

func withIssuer(issuer string) envOption {
	return func(o *envOptions) { o.issuer = issuer }
}

// withLogVerbosity sets the verbosity of the captured logs; the default 1
// captures every request.
func withLogVerbosity(v int) envOption {
	return func(o *envOptions) { o.logVerbosity = v }
}

// withStore puts a store in front of the Memory store, for tests of store
// failures.
func withStore(wrap func(store.Store) store.Store) envOption {
	return func(o *envOptions) { o.wrapStore = wrap }
}

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	o := envOptions{
		issuer:       issuerNoPath,
		wrapStore:    func(s store.Store) store.Store { return s },
		logVerbosity: 1,
	}
	for _, opt := range opts {
		opt(&o)
	}

	prefix, err := deviceflow.IssuerPath(o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	frozen := clocktesting.NewFakeClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	logs, logger := logtest.New(o.logVerbosity)
	e := &env{
		t:        t,
		clock:    frozen,
		memory:   store.NewMemory(store.WithClock(frozen.Now)),
		keys:     testKeys(t),
		registry: prometheus.NewRegistry(),
		logs:     logs,
		mux:      http.NewServeMux(),
		prefix:   prefix,
	}
	t.Cleanup(func() { _ = e.memory.Close() })
	e.setConfig(testConfig(o.issuer))

	h := deviceflow.New(deviceflow.Options{
		Store:      o.wrapStore(e.memory),
		Clock:      e.clock.Now,
		Config:     e.snap.Load,
		Keys:       func() *keys.Set { return e.keys },
		Logger:     logger,
		Registerer: e.registry,
	})
	h.Register(e.mux)
	return e
}

func (e *env) setConfig(c *config.Config) {
	e.t.Helper()
	if err := c.Validate(); err != nil {
		e.t.Fatalf("test config is invalid: %v", err)
	}
	e.snap.Store(config.NewSnapshot(c))
}

// request describes one POST to an endpoint.
type request struct {
	// path is below the issuer's path, such as deviceflow.TokenPath.
	path string
	form url.Values

	// body, when set, replaces the encoded form.
	body string

	// contentType defaults to the form media type; "-" sends none.
	contentType string

	// authorization, when set, is the raw Authorization header.
	authorization string

	query string
}

func (e *env) do(req request) *httptest.ResponseRecorder {
	e.t.Helper()
	body := req.body
	if body == "" {
		body = req.form.Encode()
	}
	target := e.prefix + req.path
	if req.query != "" {
		target += "?" + req.query
	}
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	switch req.contentType {
	case "":
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case "-":
	default:
		r.Header.Set("Content-Type", req.contentType)
	}
	if req.authorization != "" {
		r.Header.Set("Authorization", req.authorization)
	}
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, r)
	return rec
}

func (e *env) get(path string) *httptest.ResponseRecorder {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// basic returns an Authorization header with user and password
// form-url-encoded first, as RFC 6749 section 2.3.1 requires.
func basic(user, password string) string {
	return basicRaw(url.QueryEscape(user), url.QueryEscape(password))
}

// basicRaw returns an Authorization header without encoding user and
// password first.
func basicRaw(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// authorize starts a device authorization for clientID with client_id
// alone, as common libraries send it.
func (e *env) authorize(clientID string) deviceAuthorization {
	e.t.Helper()
	rec := e.do(request{path: deviceflow.DeviceAuthorizationPath, form: url.Values{"client_id": {clientID}}})
	if rec.Code != http.StatusOK {
		e.t.Fatalf("device authorization for %s: status %d, body %s", clientID, rec.Code, rec.Body)
	}
	var da deviceAuthorization
	if err := json.Unmarshal(rec.Body.Bytes(), &da); err != nil {
		e.t.Fatalf("decoding device authorization: %v", err)
	}
	return da
}

func (e *env) approve(da deviceAuthorization, subject string) {
	e.t.Helper()
	if err := e.memory.Approve(context.Background(), normalize(e.t, da.UserCode), subject, e.clock.Now()); err != nil {
		e.t.Fatalf("approving: %v", err)
	}
}

func (e *env) deny(da deviceAuthorization) {
	e.t.Helper()
	if err := e.memory.Deny(context.Background(), normalize(e.t, da.UserCode), "bob", e.clock.Now()); err != nil {
		e.t.Fatalf("denying: %v", err)
	}
}

func normalize(t testing.TB, userCode string) string {
	t.Helper()
	code, ok := usercode.Normalize(userCode)
	if !ok {
		t.Fatalf("user code %q does not normalize", userCode)
	}
	return code
}

// pollForm is a token request of a public client with client_id in the
// body.
func pollForm(clientID, deviceCode string) url.Values {
	return url.Values{
		"grant_type":  {deviceflow.GrantTypeDeviceCode},
		"client_id":   {clientID},
		"device_code": {deviceCode},
	}
}

func (e *env) poll(clientID, deviceCode string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(request{path: deviceflow.TokenPath, form: pollForm(clientID, deviceCode)})
}

// oauthError is an error response body.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Interval         *int64 `json:"interval"`
}

func decodeError(t testing.TB, rec *httptest.ResponseRecorder) oauthError {
	t.Helper()
	var body oauthError
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("decoding error body %q: %v", rec.Body, err)
	}
	return body
}

// pollError polls and returns the error code, failing on a success.
func (e *env) pollError(clientID, deviceCode string) oauthError {
	e.t.Helper()
	rec := e.poll(clientID, deviceCode)
	if rec.Code == http.StatusOK {
		e.t.Fatalf("poll succeeded, want an error: %s", rec.Body)
	}
	return decodeError(e.t, rec)
}
