package verification_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/deviceauth/deviceauth-operator/internal/logtest"
	"golang.org/x/crypto/bcrypt"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/htpasswd"
	"github.com/deviceauth/deviceauth-operator/internal/store"
	"github.com/deviceauth/deviceauth-operator/internal/verification"
	"github.com/deviceauth/deviceauth-operator/internal/verification/verificationtest"
)

const (
	alicePassword = "alice's password"
	bobPassword   = "bob's password"

	clientID          = "kubectl-oidc"
	clientDisplayName = "Cluster CLI"
)

var startTime = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// fixture is a verification page on a loopback HTTP server, backed by the
// real memory store and htpasswd users.
type fixture struct {
	t       *testing.T
	clock   *clocktesting.FakeClock
	store   *store.Memory
	server  *httptest.Server
	issuer  string
	pageURL string
	logs    *logtest.Recorder

	mu       sync.Mutex
	snapshot *config.Snapshot
	users    *htpasswd.Users
	key      []byte
}

type fixtureOptions struct {
	issuerPath  string
	displayName string
}

func newFixture(t *testing.T) *fixture {
	return newFixtureWith(t, fixtureOptions{issuerPath: "", displayName: clientDisplayName})
}

func newFixtureWith(t *testing.T, opts fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{
		t:     t,
		clock: clocktesting.NewFakeClock(startTime),
		key:   randomBytes(t, verification.MinSessionKeyBytes),
		users: parseUsers(t, map[string]string{"alice": alicePassword, "bob": bobPassword}),
	}
	var logger logr.Logger
	f.logs, logger = logtest.New(1)
	f.store = store.NewMemory(store.WithClock(f.clock.Now), store.WithSweepTicks(make(chan time.Time)))
	t.Cleanup(func() { f.store.Close() })

	mux := http.NewServeMux()
	f.server = httptest.NewServer(mux)
	t.Cleanup(f.server.Close)
	f.issuer = f.server.URL + opts.issuerPath
	f.pageURL = f.issuer + "/device"
	f.setConfig(&config.Config{
		Issuer:                     f.issuer,
		AccessTokenLifetimeSeconds: 3600,
		Clients: []config.Client{{
			ClientID:         clientID,
			DisplayName:      opts.displayName,
			Type:             config.ClientTypePublic,
			Scopes:           []string{"openid", "groups", "offline_access"},
			IntervalSeconds:  5,
			ExpiresInSeconds: 300,
			UserCodeCharset:  config.UserCodeLetters,
			UserCodeLength:   8,
		}},
	})

	handler := verification.New(verification.Options{
		Store:      f.store,
		Clock:      f.clock.Now,
		Config:     f.currentConfig,
		Users:      f.currentUsers,
		SessionKey: f.currentKey,
		Logger:     logger,
	})
	handler.Register(mux)
	return f
}

func (f *fixture) setConfig(c *config.Config) {
	if err := c.Validate(); err != nil {
		f.t.Fatalf("invalid test config: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapshot = config.NewSnapshot(c)
}

func (f *fixture) currentConfig() *config.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snapshot
}

func (f *fixture) setUsers(u *htpasswd.Users) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = u
}

func (f *fixture) currentUsers() *htpasswd.Users {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.users
}

func (f *fixture) setKey(key []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.key = key
}

func (f *fixture) currentKey() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.key
}

// createAuthorization stores a pending authorization for the test client
// with a normalized user code, as the device authorization endpoint does.
func (f *fixture) createAuthorization(userCode string) {
	f.t.Helper()
	now := f.clock.Now()
	err := f.store.Create(context.Background(), store.Authorization{
		DeviceCodeHash: hex.EncodeToString(randomBytes(f.t, 32)),
		UserCode:       userCode,
		ClientID:       clientID,
		Scopes:         []string{"openid", "groups"},
		CreatedAt:      now,
		ExpiresAt:      now.Add(300 * time.Second),
		Interval:       5 * time.Second,
	})
	if err != nil {
		f.t.Fatalf("creating authorization: %v", err)
	}
}

func (f *fixture) authorization(userCode string) store.Authorization {
	f.t.Helper()
	auth, err := f.store.LookupUserCode(context.Background(), userCode)
	if err != nil {
		f.t.Fatalf("looking up %s: %v", userCode, err)
	}
	return auth
}

// completeURL returns the verification_uri_complete for userCode.
func (f *fixture) completeURL(formattedCode string) string {
	return f.pageURL + "?user_code=" + url.QueryEscape(formattedCode)
}

// newClient returns an HTTP client with its own cookie jar: one browser.
func (f *fixture) newClient() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// person is one browser, its client and the page it shows.
type person struct {
	f       *fixture
	client  *http.Client
	browser *verificationtest.Browser
	page    *verificationtest.Page
}

func (f *fixture) newPerson() *person {
	client := f.newClient()
	return &person{f: f, client: client, browser: verificationtest.NewBrowser(client)}
}

func (p *person) open(rawURL string) *verificationtest.Page {
	p.f.t.Helper()
	page, err := p.browser.Get(context.Background(), rawURL)
	if err != nil {
		p.f.t.Fatalf("GET %s: %v", rawURL, err)
	}
	p.page = page
	return page
}

func (p *person) press(button string, fill map[string]string) *verificationtest.Page {
	p.f.t.Helper()
	page, err := p.browser.Submit(context.Background(), p.page, button, fill)
	if err != nil {
		p.f.t.Fatalf("pressing %s on %q: %v", button, p.page.Title, err)
	}
	p.page = page
	return page
}

// signIn opens rawURL and signs in with the given password.
func (p *person) signIn(rawURL, user, password string) *verificationtest.Page {
	p.f.t.Helper()
	p.open(rawURL)
	return p.press(verificationtest.ButtonSignIn, map[string]string{"username": user, "password": password})
}

// postRaw sends a form post with the person's cookies, as a page outside
// the browser's control would.
func (p *person) postRaw(target string, form url.Values, header http.Header) *http.Response {
	p.f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		p.f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for name, values := range header {
		req.Header[name] = values
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.f.t.Fatalf("POST %s: %v", target, err)
	}
	p.f.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// formValues returns what the form with the button would submit.
func formValues(t *testing.T, page *verificationtest.Page, button string) url.Values {
	t.Helper()
	form := page.FormWithButton(button)
	if form == nil {
		t.Fatalf("page %q has no %s button", page.Title, button)
	}
	values := url.Values{}
	for _, field := range form.Fields {
		values.Set(field.Name, field.Value)
	}
	values.Set("action", button)
	return values
}

func parseUsers(t *testing.T, passwords map[string]string) *htpasswd.Users {
	t.Helper()
	var file strings.Builder
	for user, password := range passwords {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		file.WriteString(user + ":" + string(hash) + "\n")
	}
	users, err := htpasswd.Parse([]byte(file.String()))
	if err != nil {
		t.Fatal(err)
	}
	return users
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
