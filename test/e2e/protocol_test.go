package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/oauth2"

	"github.com/deviceauth/deviceauth-operator/internal/token/tokentest"
	"github.com/deviceauth/deviceauth-operator/internal/verification/verificationtest"
)

const deviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"

// tokenResponse is one token endpoint response as a client sees it.
type tokenResponse struct {
	Status   int
	Header   http.Header
	Error    string `json:"error"`
	Interval int    `json:"interval"`
	Access   string `json:"access_token"`
}

// deviceCode is a device authorization response.
type deviceCode struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// clientAuth is how a request authenticates its client.
type clientAuth struct {
	id, secret string
	basic      bool
}

func (a clientAuth) apply(r *http.Request, form url.Values) {
	if a.basic {
		r.SetBasicAuth(url.QueryEscape(a.id), url.QueryEscape(a.secret))
		return
	}
	form.Set("client_id", a.id)
	if a.secret != "" {
		form.Set("client_secret", a.secret)
	}
}

func post(t *testing.T, endpoint string, auth clientAuth, form url.Values) (*http.Response, []byte) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth.apply(req, form)
	req.Body = io.NopCloser(strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func (s *stack) requestDeviceCode(t *testing.T, auth clientAuth) deviceCode {
	t.Helper()
	resp, body := post(t, s.issuer+"/oauth2/device_authorization", auth, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("device authorization for %s: %d %s", auth.id, resp.StatusCode, body)
	}
	var code deviceCode
	if err := json.Unmarshal(body, &code); err != nil {
		t.Fatalf("decoding device authorization response %s: %v", body, err)
	}
	s.remember(code.DeviceCode, code.UserCode)
	return code
}

func (s *stack) poll(t *testing.T, auth clientAuth, form url.Values) tokenResponse {
	t.Helper()
	resp, body := post(t, s.issuer+"/oauth2/token", auth, form)
	answer := tokenResponse{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatalf("token response is not JSON: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" && !strings.HasPrefix(got, "application/json;") {
		t.Errorf("token response Content-Type = %q, want application/json", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("token response Cache-Control = %q, want no-store", got)
	}
	return answer
}

func (s *stack) pollCode(t *testing.T, auth clientAuth, code string) tokenResponse {
	t.Helper()
	return s.poll(t, auth, url.Values{"grant_type": {deviceCodeGrant}, "device_code": {code}})
}

func expectError(t *testing.T, got tokenResponse, status int, code string) {
	t.Helper()
	if got.Error != code {
		t.Errorf("error = %q, want %q", got.Error, code)
	}
	if got.Status != status {
		t.Errorf("status = %d, want %d for %s", got.Status, status, code)
	}
}

// verifyAccessToken checks a token's signature against the server's JWKS
// and returns its claims.
func (s *stack) verifyAccessToken(t *testing.T, raw string) map[string]any {
	t.Helper()
	claims, err := tokentest.VerifyWithJWKS(s.issuer+"/oauth2/jwks", raw)
	if err != nil {
		t.Fatal(err)
	}
	return claims
}

// pollRecorder is the transport of the x/oauth2 client: it records when
// each token request was sent and what error it got back.
type pollRecorder struct {
	base http.RoundTripper

	mu    sync.Mutex
	polls []recordedPoll
}

type recordedPoll struct {
	at    time.Time
	error string
}

func (p *pollRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	sent := time.Now()
	resp, err := p.base.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/oauth2/token") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	p.mu.Lock()
	p.polls = append(p.polls, recordedPoll{at: sent, error: e.Error})
	p.mu.Unlock()
	return resp, nil
}

func (p *pollRecorder) recorded() []recordedPoll {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recordedPoll(nil), p.polls...)
}

// testOAuth2DeviceFlow logs in with golang.org/x/oauth2's device flow
// client at its default settings while a scripted person approves on the
// verification page.
func (s *stack) testOAuth2DeviceFlow(t *testing.T) {
	g := NewWithT(t)
	recorder := &pollRecorder{base: http.DefaultTransport}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: recorder})

	meta := s.metadata(t)
	conf := &oauth2.Config{
		ClientID: "cli",
		Scopes:   []string{"openid", "kubernetes"},
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: meta.DeviceAuthorizationEndpoint,
			TokenURL:      meta.TokenEndpoint,
		},
	}
	da, err := conf.DeviceAuth(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	s.remember(da.DeviceCode, da.UserCode)
	g.Expect(da.Interval).To(BeEquivalentTo(s.cliInterval), "interval of the sample cli client")

	approved := make(chan error, 1)
	go func() {
		// Approve after the client's first poll, as a person would take a
		// few seconds to open the page.
		time.Sleep(time.Duration(da.Interval)*time.Second + 500*time.Millisecond)
		approved <- verificationtest.Approve(ctx, &http.Client{}, da.VerificationURIComplete, s.user, s.password)
	}()
	tok, err := conf.DeviceAccessToken(ctx, da)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(<-approved).To(Succeed())

	claims := s.verifyAccessToken(t, tok.AccessToken)
	g.Expect(claims).To(HaveKeyWithValue("sub", s.user))
	g.Expect(claims).To(HaveKeyWithValue("iss", s.issuer))
	g.Expect(claims).To(HaveKeyWithValue("client_id", "cli"))
	g.Expect(claims).To(HaveKeyWithValue("scope", "openid kubernetes"))

	polls := recorder.recorded()
	g.Expect(len(polls)).To(BeNumerically(">=", 2), "x/oauth2 polled at least until the approval")
	var accepted []time.Time
	for i, p := range polls {
		g.Expect(p.error).NotTo(Equal("slow_down"), "poll %d of %d", i+1, len(polls))
		// x/oauth2 resends a failed poll at once with the other client
		// authentication style; only the first of such a pair waits.
		if len(accepted) == 0 || p.at.Sub(accepted[len(accepted)-1]) > time.Second {
			accepted = append(accepted, p.at)
		}
	}
	for i := 1; i < len(accepted); i++ {
		gap := accepted[i].Sub(accepted[i-1])
		g.Expect(gap).To(BeNumerically(">=", time.Duration(da.Interval)*time.Second-100*time.Millisecond),
			"x/oauth2 waits the interval it was given between polls")
	}
}

type serverMetadata struct {
	Issuer                      string `json:"issuer"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
	TokenEndpoint               string `json:"token_endpoint"`
	JWKSURI                     string `json:"jwks_uri"`
}

func (s *stack) metadata(t *testing.T) serverMetadata {
	t.Helper()
	resp, err := http.Get(s.issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var meta serverMetadata
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		t.Fatal(err)
	}
	if meta.Issuer != s.issuer {
		t.Fatalf("metadata issuer = %q, want %q", meta.Issuer, s.issuer)
	}
	return meta
}

// testPollingErrors checks each polling error with plain HTTP requests.
func (s *stack) testPollingErrors(t *testing.T) {
	cli := clientAuth{id: "cli"}
	bot := clientAuth{id: "ci-bot", secret: s.botSecret, basic: true}

	t.Run("denied code gives access_denied", func(t *testing.T) {
		code := s.requestDeviceCode(t, cli)
		if err := verificationtest.Deny(context.Background(), &http.Client{}, code.VerificationURIComplete, s.user, s.password); err != nil {
			t.Fatalf("denying on the verification page: %v", err)
		}
		expectError(t, s.pollCode(t, cli, code.DeviceCode), http.StatusBadRequest, "access_denied")
	})

	t.Run("short-lived code gives expired_token", func(t *testing.T) {
		short := clientAuth{id: "short-lived"}
		code := s.requestDeviceCode(t, short)
		if code.ExpiresIn != s.shortExpiresIn {
			t.Fatalf("expires_in = %d, want the client's %d", code.ExpiresIn, s.shortExpiresIn)
		}
		time.Sleep(time.Duration(code.ExpiresIn)*time.Second + 500*time.Millisecond)
		expectError(t, s.pollCode(t, short, code.DeviceCode), http.StatusBadRequest, "expired_token")
	})

	t.Run("redeemed code polled again gives invalid_grant", func(t *testing.T) {
		code := s.requestDeviceCode(t, cli)
		if err := verificationtest.Approve(context.Background(), &http.Client{}, code.VerificationURIComplete, s.user, s.password); err != nil {
			t.Fatalf("approving on the verification page: %v", err)
		}
		first := s.pollCode(t, cli, code.DeviceCode)
		if first.Status != http.StatusOK || first.Access == "" {
			t.Fatalf("first poll after approval = %d %q, want 200 with an access token", first.Status, first.Error)
		}
		s.verifyAccessToken(t, first.Access)
		expectError(t, s.pollCode(t, cli, code.DeviceCode), http.StatusBadRequest, "invalid_grant")
	})

	t.Run("another client's code gives invalid_grant", func(t *testing.T) {
		code := s.requestDeviceCode(t, cli)
		expectError(t, s.pollCode(t, bot, code.DeviceCode), http.StatusBadRequest, "invalid_grant")
	})

	t.Run("polling too fast gives slow_down", func(t *testing.T) {
		code := s.requestDeviceCode(t, cli)
		expectError(t, s.pollCode(t, cli, code.DeviceCode), http.StatusBadRequest, "authorization_pending")
		// One repeat within a second counts as the same poll.
		expectError(t, s.pollCode(t, cli, code.DeviceCode), http.StatusBadRequest, "authorization_pending")
		slow := s.pollCode(t, cli, code.DeviceCode)
		expectError(t, slow, http.StatusBadRequest, "slow_down")
		if want := code.Interval + 5; slow.Interval != want {
			t.Errorf("slow_down interval = %d, want %d", slow.Interval, want)
		}
	})

	t.Run("wrong secret gives invalid_client", func(t *testing.T) {
		code := s.requestDeviceCode(t, clientAuth{id: "ci-bot"})
		wrongBasic := clientAuth{id: "ci-bot", secret: "not-the-secret", basic: true}
		got := s.pollCode(t, wrongBasic, code.DeviceCode)
		expectError(t, got, http.StatusUnauthorized, "invalid_client")
		if !strings.HasPrefix(got.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("WWW-Authenticate = %q, want a Basic challenge", got.Header.Get("WWW-Authenticate"))
		}
		wrongPost := clientAuth{id: "ci-bot", secret: "not-the-secret"}
		expectError(t, s.pollCode(t, wrongPost, code.DeviceCode), http.StatusBadRequest, "invalid_client")
		expectError(t, s.pollCode(t, bot, code.DeviceCode), http.StatusBadRequest, "authorization_pending")
	})

	t.Run("missing device_code gives invalid_request", func(t *testing.T) {
		got := s.poll(t, cli, url.Values{"grant_type": {deviceCodeGrant}})
		expectError(t, got, http.StatusBadRequest, "invalid_request")
	})

	t.Run("other grant_type gives unsupported_grant_type", func(t *testing.T) {
		got := s.poll(t, cli, url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}})
		expectError(t, got, http.StatusBadRequest, "unsupported_grant_type")
	})
}
