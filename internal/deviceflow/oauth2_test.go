package deviceflow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	. "github.com/onsi/gomega"
	"golang.org/x/oauth2"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/deviceflow"
	"github.com/deviceauth/deviceauth-operator/internal/keys"
	"github.com/deviceauth/deviceauth-operator/internal/store"
)

// observedPoll is one token request as the client saw it.
type observedPoll struct {
	basic     bool
	status    int
	errorCode string
}

// pollObserver is the client's transport. It records each token response
// and calls afterPending once the first two polls were pending, which is
// one poll sent twice in golang.org/x/oauth2's two authentication styles.
type pollObserver struct {
	base         http.RoundTripper
	afterPending func()

	mu    sync.Mutex
	polls []observedPoll
}

func (o *pollObserver) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _, basic := r.BasicAuth()
	resp, err := o.base.RoundTrip(r)
	if err != nil || r.URL.Path != deviceflow.TokenPath {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))

	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)

	o.mu.Lock()
	o.polls = append(o.polls, observedPoll{basic: basic, status: resp.StatusCode, errorCode: e.Error})
	approve := len(o.polls) == 2 && o.polls[0].errorCode == "authorization_pending" &&
		o.polls[1].errorCode == "authorization_pending"
	o.mu.Unlock()
	if approve {
		o.afterPending()
	}
	return resp, nil
}

func (o *pollObserver) observed() []observedPoll {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observedPoll(nil), o.polls...)
}

// e2eServer is the handler on a loopback HTTP server with the real clock,
// since golang.org/x/oauth2 waits the interval in real time.
type e2eServer struct {
	url    string
	memory *store.Memory
}

func startE2EServer(t *testing.T) *e2eServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()

	c := testConfig(issuer)
	for i := range c.Clients {
		// The shortest interval at which a poll can be early at all,
		// given the one second of tolerance.
		c.Clients[i].IntervalSeconds = 2
		c.Clients[i].ExpiresInSeconds = 60
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	snap := config.NewSnapshot(c)
	set := testKeys(t)

	memory := store.NewMemory()
	t.Cleanup(func() { _ = memory.Close() })
	mux := http.NewServeMux()
	deviceflow.New(deviceflow.Options{
		Store:  memory,
		Config: func() *config.Snapshot { return snap },
		Keys:   func() *keys.Set { return set },
	}).Register(mux)

	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return &e2eServer{url: issuer, memory: memory}
}

// verifyByDiscovery verifies a token the way a relying party does: it finds
// jwks_uri through the discovery document and checks the signature.
func verifyByDiscovery(t *testing.T, issuer, accessToken string) accessClaims {
	t.Helper()
	g := NewWithT(t)
	getJSON := func(url string, v any) {
		resp, err := http.Get(url)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "GET %s", url)
		g.Expect(json.NewDecoder(resp.Body).Decode(v)).To(Succeed())
	}

	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(issuer+"/.well-known/openid-configuration", &discovery)
	g.Expect(discovery.Issuer).To(Equal(issuer))
	var jwks jose.JSONWebKeySet
	getJSON(discovery.JWKSURI, &jwks)

	parsed, err := jwt.ParseSigned(accessToken, []jose.SignatureAlgorithm{jose.RS256})
	g.Expect(err).NotTo(HaveOccurred())
	matching := jwks.Key(parsed.Headers[0].KeyID)
	g.Expect(matching).To(HaveLen(1))
	var claims accessClaims
	g.Expect(parsed.Claims(matching[0].Key, &claims)).To(Succeed())
	g.Expect(claims.Issuer).To(Equal(issuer))
	return claims
}

// golang.org/x/oauth2 with its default settings gets a token and never a
// slow_down, although it sends every pending poll twice.
func TestOAuth2ClientEndToEnd(t *testing.T) {
	cases := []struct {
		name     string
		clientID string
		secret   string
	}{
		{"Public", publicClient, ""},
		{"Confidential", confidentialClient, confidentialSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			srv := startE2EServer(t)
			conf := &oauth2.Config{
				ClientID:     tc.clientID,
				ClientSecret: tc.secret,
				Scopes:       []string{"openid"},
				Endpoint: oauth2.Endpoint{
					DeviceAuthURL: srv.url + deviceflow.DeviceAuthorizationPath,
					TokenURL:      srv.url + deviceflow.TokenPath,
				},
			}

			var userCode atomic.Value
			var approveErr atomic.Value
			observer := &pollObserver{
				base: http.DefaultTransport,
				afterPending: func() {
					code := normalize(t, userCode.Load().(string))
					if err := srv.memory.Approve(context.Background(), code, "alice", time.Now()); err != nil {
						approveErr.Store(err)
					}
				},
			}
			// The timeout only stops a broken run from hanging; nothing
			// is measured against it.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: observer})

			da, err := conf.DeviceAuth(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(da.Interval).To(BeEquivalentTo(2))
			g.Expect(da.VerificationURIComplete).To(Equal(da.VerificationURI + "?user_code=" + da.UserCode))
			userCode.Store(da.UserCode)

			tok, err := conf.DeviceAccessToken(ctx, da)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(approveErr.Load()).To(BeNil())
			g.Expect(tok.TokenType).To(Equal("Bearer"))
			g.Expect(tok.Extra("scope")).To(Equal("openid"))

			g.Expect(observer.observed()).To(Equal([]observedPoll{
				{basic: true, status: http.StatusBadRequest, errorCode: "authorization_pending"},
				{basic: false, status: http.StatusBadRequest, errorCode: "authorization_pending"},
				{basic: true, status: http.StatusOK},
			}))

			claims := verifyByDiscovery(t, srv.url, tok.AccessToken)
			g.Expect(claims.Subject).To(Equal("alice"))
			g.Expect(claims.ClientID).To(Equal(tc.clientID))
		})
	}
}
