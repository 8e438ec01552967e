package deviceflow_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/internal/deviceflow"
	"github.com/deviceauth/deviceauth-operator/internal/store"
)

func randomDeviceCode() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// confidentialPoll is a token request of the confidential client with its
// secret in the body.
func confidentialPoll(deviceCode string) url.Values {
	f := pollForm(confidentialClient, deviceCode)
	f.Set("client_secret", confidentialSecret)
	return f
}

func without(f url.Values, name string) url.Values {
	f.Del(name)
	return f
}

func with(f url.Values, name string, values ...string) url.Values {
	f[name] = values
	return f
}

func TestTokenRequestChecks(t *testing.T) {
	tokenRequest := func(f url.Values) request { return request{path: deviceflow.TokenPath, form: f} }
	pendingPoll := func(e *env) url.Values { return pollForm(publicClient, e.authorize(publicClient).DeviceCode) }

	cases := []struct {
		name       string
		request    func(e *env) request
		wantStatus int
		wantError  string
	}{
		// The body's shape.
		{
			name: "JSONBodyRejected",
			request: func(e *env) request {
				body, _ := json.Marshal(map[string]string{"grant_type": deviceflow.GrantTypeDeviceCode})
				return request{path: deviceflow.TokenPath, body: string(body), contentType: "application/json"}
			},
			wantError: "invalid_request",
		},
		{
			name: "MissingContentType",
			request: func(e *env) request {
				return request{path: deviceflow.TokenPath, form: pendingPoll(e), contentType: "-"}
			},
			wantError: "invalid_request",
		},
		{
			name: "CharsetIgnored",
			request: func(e *env) request {
				return request{
					path:        deviceflow.TokenPath,
					form:        pendingPoll(e),
					contentType: "application/x-www-form-urlencoded; charset=ISO-8859-1",
				}
			},
			wantError: "authorization_pending",
		},
		{
			name: "MediaTypeCaseIgnored",
			request: func(e *env) request {
				return request{path: deviceflow.TokenPath, form: pendingPoll(e), contentType: "Application/X-WWW-Form-URLEncoded"}
			},
			wantError: "authorization_pending",
		},
		{
			name: "QueryStringIgnored",
			request: func(e *env) request {
				return request{path: deviceflow.TokenPath, query: pendingPoll(e).Encode()}
			},
			wantError: "invalid_request",
		},
		{
			name: "QueryCannotOverrideBody",
			request: func(e *env) request {
				return request{path: deviceflow.TokenPath, form: pendingPoll(e), query: "client_id=unknown&grant_type=password"}
			},
			wantError: "authorization_pending",
		},
		{
			name: "RepeatedDeviceCode",
			request: func(e *env) request {
				f := pendingPoll(e)
				return tokenRequest(with(f, "device_code", f.Get("device_code"), "x"))
			},
			wantError: "invalid_request",
		},
		{
			name: "RepeatedIdenticalGrantType",
			request: func(e *env) request {
				return tokenRequest(with(pendingPoll(e), "grant_type", deviceflow.GrantTypeDeviceCode, deviceflow.GrantTypeDeviceCode))
			},
			wantError: "invalid_request",
		},
		{
			name: "RepeatedClientID",
			request: func(e *env) request {
				return tokenRequest(with(pendingPoll(e), "client_id", publicClient, publicClient))
			},
			wantError: "invalid_request",
		},
		{
			name: "UnknownParametersIgnored",
			request: func(e *env) request {
				f := with(pendingPoll(e), "scope", "openid profile")
				return tokenRequest(with(f, "resource", "https://a.example.test", "https://b.example.test"))
			},
			wantError: "authorization_pending",
		},
		{
			name: "MalformedForm",
			request: func(e *env) request {
				return request{path: deviceflow.TokenPath, body: "grant_type=%zz&client_id=" + publicClient}
			},
			wantError: "invalid_request",
		},
		{
			name: "BodyTooLarge",
			request: func(e *env) request {
				return tokenRequest(with(pendingPoll(e), "padding", strings.Repeat("a", 70<<10)))
			},
			wantError: "invalid_request",
		},

		// grant_type.
		{
			name:      "MissingGrantType",
			request:   func(e *env) request { return tokenRequest(without(pendingPoll(e), "grant_type")) },
			wantError: "invalid_request",
		},
		{
			name:      "UnsupportedGrantType",
			request:   func(e *env) request { return tokenRequest(with(pendingPoll(e), "grant_type", "authorization_code")) },
			wantError: "unsupported_grant_type",
		},
		{
			name: "GrantTypeBeforeClient",
			request: func(e *env) request {
				f := with(pendingPoll(e), "grant_type", "client_credentials")
				return tokenRequest(with(f, "client_id", "unknown"))
			},
			wantError: "unsupported_grant_type",
		},

		// The client.
		{
			name:      "MissingClientID",
			request:   func(e *env) request { return tokenRequest(without(pendingPoll(e), "client_id")) },
			wantError: "invalid_request",
		},
		{
			name:      "UnknownClient",
			request:   func(e *env) request { return tokenRequest(with(pendingPoll(e), "client_id", "unknown")) },
			wantError: "invalid_client",
		},
		{
			name: "UnknownClientBasic",
			request: func(e *env) request {
				r := tokenRequest(without(pendingPoll(e), "client_id"))
				r.authorization = basic("unknown", "")
				return r
			},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name: "PublicClientBasicEmptyPassword",
			request: func(e *env) request {
				r := tokenRequest(without(pendingPoll(e), "client_id"))
				r.authorization = basic(publicClient, "")
				return r
			},
			wantError: "authorization_pending",
		},
		{
			name: "PublicClientBasicWithBodyClientID",
			request: func(e *env) request {
				r := tokenRequest(pendingPoll(e))
				r.authorization = basic(publicClient, "")
				return r
			},
			wantError: "authorization_pending",
		},
		{
			name:      "PublicClientPresentingSecret",
			request:   func(e *env) request { return tokenRequest(with(pendingPoll(e), "client_secret", "anything")) },
			wantError: "invalid_client",
		},
		{
			name: "PublicClientBasicPresentingSecret",
			request: func(e *env) request {
				r := tokenRequest(without(pendingPoll(e), "client_id"))
				r.authorization = basic(publicClient, "anything")
				return r
			},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name: "ConfidentialWithoutSecret",
			request: func(e *env) request {
				return tokenRequest(pollForm(confidentialClient, e.authorize(confidentialClient).DeviceCode))
			},
			wantError: "invalid_client",
		},
		{
			name: "ConfidentialWrongSecretPost",
			request: func(e *env) request {
				return tokenRequest(with(confidentialPoll(e.authorize(confidentialClient).DeviceCode), "client_secret", "wrong"))
			},
			wantError: "invalid_client",
		},
		{
			name: "ConfidentialWrongSecretBasic",
			request: func(e *env) request {
				r := tokenRequest(without(pollForm(confidentialClient, e.authorize(confidentialClient).DeviceCode), "client_id"))
				r.authorization = basic(confidentialClient, "wrong")
				return r
			},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name: "ConfidentialSecretPost",
			request: func(e *env) request {
				return tokenRequest(confidentialPoll(e.authorize(confidentialClient).DeviceCode))
			},
			wantError: "authorization_pending",
		},
		{
			name: "ConfidentialSecretBasic",
			request: func(e *env) request {
				r := tokenRequest(pollForm(confidentialClient, e.authorize(confidentialClient).DeviceCode))
				r.authorization = basic(confidentialClient, confidentialSecret)
				return r
			},
			wantError: "authorization_pending",
		},
		{
			// Without form-url-encoding, the + in the secret decodes to a
			// space and the secret no longer matches.
			name: "ConfidentialBasicNotFormEncoded",
			request: func(e *env) request {
				r := tokenRequest(without(pollForm(confidentialClient, e.authorize(confidentialClient).DeviceCode), "client_id"))
				r.authorization = basicRaw(confidentialClient, confidentialSecret)
				return r
			},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name: "BasicAndClientSecretPost",
			request: func(e *env) request {
				r := tokenRequest(confidentialPoll(e.authorize(confidentialClient).DeviceCode))
				r.authorization = basic(confidentialClient, confidentialSecret)
				return r
			},
			wantError: "invalid_request",
		},
		{
			name: "BasicUserDiffersFromClientID",
			request: func(e *env) request {
				r := tokenRequest(pendingPoll(e))
				r.authorization = basic(digitsClient, "")
				return r
			},
			wantError: "invalid_request",
		},
		{
			name: "MalformedBasic",
			request: func(e *env) request {
				r := tokenRequest(pendingPoll(e))
				r.authorization = "Basic !!!"
				return r
			},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name: "BasicWithBadPercentEncoding",
			request: func(e *env) request {
				r := tokenRequest(without(pendingPoll(e), "client_id"))
				r.authorization = basicRaw("public%zz", "")
				return r
			},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name: "UnsupportedAuthorizationScheme",
			request: func(e *env) request {
				r := tokenRequest(pendingPoll(e))
				r.authorization = "Bearer abc"
				return r
			},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name: "ClientBeforeDeviceCode",
			request: func(e *env) request {
				return tokenRequest(with(without(pendingPoll(e), "device_code"), "client_id", "unknown"))
			},
			wantError: "invalid_client",
		},

		// device_code.
		{
			name:      "MissingDeviceCode",
			request:   func(e *env) request { return tokenRequest(without(pendingPoll(e), "device_code")) },
			wantError: "invalid_request",
		},
		{
			name:      "MalformedDeviceCode",
			request:   func(e *env) request { return tokenRequest(pollForm(publicClient, "not-a-device-code")) },
			wantError: "invalid_grant",
		},
		{
			name:      "UnknownDeviceCode",
			request:   func(e *env) request { return tokenRequest(pollForm(publicClient, randomDeviceCode())) },
			wantError: "invalid_grant",
		},
		{
			name: "AnotherClientsDeviceCode",
			request: func(e *env) request {
				return tokenRequest(pollForm(publicClient, e.authorize(digitsClient).DeviceCode))
			},
			wantError: "invalid_grant",
		},

		// Expiry, then state.
		{
			name: "ExpiredAndAnotherClients",
			request: func(e *env) request {
				da := e.authorize(digitsClient)
				e.clock.Step(600 * time.Second)
				return tokenRequest(pollForm(publicClient, da.DeviceCode))
			},
			wantError: "invalid_grant",
		},
		{
			name: "Expired",
			request: func(e *env) request {
				f := pendingPoll(e)
				e.clock.Step(300 * time.Second)
				return tokenRequest(f)
			},
			wantError: "expired_token",
		},
		{
			name: "ExpiredAfterApproval",
			request: func(e *env) request {
				da := e.authorize(publicClient)
				e.approve(da, "alice")
				e.clock.Step(300 * time.Second)
				return tokenRequest(pollForm(publicClient, da.DeviceCode))
			},
			wantError: "expired_token",
		},
		{
			name: "ExpiredAfterDenial",
			request: func(e *env) request {
				da := e.authorize(publicClient)
				e.deny(da)
				e.clock.Step(300 * time.Second)
				return tokenRequest(pollForm(publicClient, da.DeviceCode))
			},
			wantError: "expired_token",
		},
		{
			name: "ExpiredForOneMoreLifetime",
			request: func(e *env) request {
				f := pendingPoll(e)
				e.clock.Step(600*time.Second - time.Nanosecond)
				return tokenRequest(f)
			},
			wantError: "expired_token",
		},
		{
			name: "ForgottenAfterTwoLifetimes",
			request: func(e *env) request {
				f := pendingPoll(e)
				e.clock.Step(600 * time.Second)
				return tokenRequest(f)
			},
			wantError: "invalid_grant",
		},
		{
			name: "Denied",
			request: func(e *env) request {
				da := e.authorize(publicClient)
				e.deny(da)
				return tokenRequest(pollForm(publicClient, da.DeviceCode))
			},
			wantError: "access_denied",
		},
		{
			name: "AlreadyRedeemed",
			request: func(e *env) request {
				da := e.authorize(publicClient)
				e.approve(da, "alice")
				if rec := e.poll(publicClient, da.DeviceCode); rec.Code != http.StatusOK {
					e.t.Fatalf("redeeming: %d %s", rec.Code, rec.Body)
				}
				e.clock.Step(5 * time.Second)
				return tokenRequest(pollForm(publicClient, da.DeviceCode))
			},
			wantError: "invalid_grant",
		},
		{
			name: "ApprovedRedeemsWhenPolledTooEarly",
			request: func(e *env) request {
				da := e.authorize(publicClient)
				e.pollError(publicClient, da.DeviceCode)
				e.pollError(publicClient, da.DeviceCode)
				if got := e.pollError(publicClient, da.DeviceCode); got.Error != "slow_down" {
					e.t.Fatalf("third poll at once: %s, want slow_down", got.Error)
				}
				e.approve(da, "alice")
				return tokenRequest(pollForm(publicClient, da.DeviceCode))
			},
			wantStatus: http.StatusOK,
		},

		// And only then the rate.
		{
			name:      "Pending",
			request:   func(e *env) request { return tokenRequest(pendingPoll(e)) },
			wantError: "authorization_pending",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t)
			rec := e.do(tc.request(e))

			wantStatus := tc.wantStatus
			if wantStatus == 0 {
				wantStatus = http.StatusBadRequest
			}
			g.Expect(rec.Code).To(Equal(wantStatus), "body %s", rec.Body)
			g.Expect(rec.Header().Get("Content-Type")).To(Equal("application/json"))
			g.Expect(rec.Header().Get("Cache-Control")).To(Equal("no-store"))
			g.Expect(rec.Header().Get("Pragma")).To(Equal("no-cache"))
			if wantStatus == http.StatusUnauthorized {
				g.Expect(rec.Header().Get("WWW-Authenticate")).To(HavePrefix(`Basic realm="`))
			} else {
				g.Expect(rec.Header().Values("WWW-Authenticate")).To(BeEmpty())
			}
			if tc.wantError == "" {
				return
			}
			body := decodeError(t, rec)
			g.Expect(body.Error).To(Equal(tc.wantError), "description %q", body.ErrorDescription)
			g.Expect(body.ErrorDescription).NotTo(BeEmpty())
			g.Expect(body.Interval).To(BeNil())
		})
	}
}

func TestTokenRepeatWithinOneSecond(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	da := e.authorize(publicClient)

	g.Expect(e.pollError(publicClient, da.DeviceCode).Error).To(Equal("authorization_pending"))
	e.clock.Step(900 * time.Millisecond)
	g.Expect(e.pollError(publicClient, da.DeviceCode).Error).To(Equal("authorization_pending"))

	third := e.pollError(publicClient, da.DeviceCode)
	g.Expect(third.Error).To(Equal("slow_down"))
	g.Expect(third.Interval).NotTo(BeNil())
	g.Expect(*third.Interval).To(BeEquivalentTo(10))
}

// A client that adds 5 seconds on each slow_down, as RFC 8628 section 3.5
// requires, keeps pace with the server and is never slowed again.
func TestTokenSlowDownRaisesIntervalByFive(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	da := e.authorize(publicClient)
	g.Expect(e.pollError(publicClient, da.DeviceCode).Error).To(Equal("authorization_pending"))

	clientInterval := int64(da.Interval)
	for _, wait := range []time.Duration{2 * time.Second, 1500 * time.Millisecond, 1500 * time.Millisecond} {
		e.clock.Step(wait)
		got := e.pollError(publicClient, da.DeviceCode)
		g.Expect(got.Error).To(Equal("slow_down"))
		clientInterval += 5
		g.Expect(got.Interval).NotTo(BeNil())
		g.Expect(*got.Interval).To(Equal(clientInterval))
	}

	for i := range 10 {
		e.clock.Step(time.Duration(clientInterval) * time.Second)
		got := e.pollError(publicClient, da.DeviceCode)
		g.Expect(got.Error).To(Equal("authorization_pending"), "poll %d at the new interval", i)
		g.Expect(got.Interval).To(BeNil())
	}

	e.approve(da, "alice")
	e.clock.Step(time.Duration(clientInterval) * time.Second)
	g.Expect(e.poll(publicClient, da.DeviceCode).Code).To(Equal(http.StatusOK))
}

// unreachableStore fails every call, as a store behind a broken network
// would.
type unreachableStore struct{}

var errUnreachable = errors.New("dial tcp 127.0.0.1:6379: connection refused")

func (unreachableStore) Create(context.Context, store.Authorization) error { return errUnreachable }
func (unreachableStore) LookupUserCode(context.Context, string) (store.Authorization, error) {
	return store.Authorization{}, errUnreachable
}
func (unreachableStore) Approve(context.Context, string, string, time.Time) error {
	return errUnreachable
}
func (unreachableStore) Deny(context.Context, string, string, time.Time) error { return errUnreachable }
func (unreachableStore) Poll(context.Context, string, string, time.Time) (store.PollResult, error) {
	return store.PollResult{}, errUnreachable
}
func (unreachableStore) Ping(context.Context) error { return errUnreachable }
func (unreachableStore) Close() error               { return nil }

func TestTokenStoreUnreachableSlowsDown(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, withStore(func(store.Store) store.Store { return unreachableStore{} }))

	for _, tc := range []struct {
		clientID     string
		wantInterval int64
	}{
		{publicClient, 10},
		{digitsClient, 15},
	} {
		rec := e.poll(tc.clientID, randomDeviceCode())
		g.Expect(rec.Code).To(Equal(http.StatusBadRequest))
		body := decodeError(t, rec)
		g.Expect(body.Error).To(Equal("slow_down"), tc.clientID)
		g.Expect(body.Interval).NotTo(BeNil())
		g.Expect(*body.Interval).To(Equal(tc.wantInterval), tc.clientID)
	}

	g.Expect(e.logs.String()).To(ContainSubstring("connection refused"))
	g.Expect(counterValue(t, e, "deviceauth_store_errors_total", map[string]string{"operation": "poll"})).To(Equal(2.0))
}

// tokenBody is a successful token response.
type tokenBody struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

type accessClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// verifyWithServedJWKS checks the token's signature against the JWKS the
// handler serves and returns its claims.
func verifyWithServedJWKS(t *testing.T, e *env, accessToken string) accessClaims {
	t.Helper()
	g := NewWithT(t)
	rec := e.get(e.prefix + deviceflow.JWKSPath)
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	var jwks jose.JSONWebKeySet
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &jwks)).To(Succeed())

	parsed, err := jwt.ParseSigned(accessToken, []jose.SignatureAlgorithm{jose.RS256})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(parsed.Headers[0].ExtraHeaders[jose.HeaderType]).To(Equal("at+jwt"))
	matching := jwks.Key(parsed.Headers[0].KeyID)
	g.Expect(matching).To(HaveLen(1))

	var claims accessClaims
	g.Expect(parsed.Claims(matching[0].Key, &claims)).To(Succeed())
	return claims
}

func TestTokenIssued(t *testing.T) {
	for _, issuer := range []string{issuerNoPath, issuerWithPath} {
		t.Run(issuer, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, withIssuer(issuer))
			da := e.authorize(publicClient)
			e.approve(da, "alice")
			issuedAt := e.clock.Now()

			rec := e.poll(publicClient, da.DeviceCode)
			g.Expect(rec.Code).To(Equal(http.StatusOK), "body %s", rec.Body)
			g.Expect(rec.Header().Get("Content-Type")).To(Equal("application/json"))
			g.Expect(rec.Header().Get("Cache-Control")).To(Equal("no-store"))
			g.Expect(rec.Header().Get("Pragma")).To(Equal("no-cache"))

			var body tokenBody
			g.Expect(json.Unmarshal(rec.Body.Bytes(), &body)).To(Succeed())
			g.Expect(body.TokenType).To(Equal("Bearer"))
			g.Expect(body.ExpiresIn).To(BeEquivalentTo(tokenLifetime / time.Second))
			g.Expect(body.Scope).To(Equal("openid profile groups"))

			claims := verifyWithServedJWKS(t, e, body.AccessToken)
			g.Expect(claims.Issuer).To(Equal(issuer))
			g.Expect(claims.Subject).To(Equal("alice"))
			g.Expect([]string(claims.Audience)).To(Equal([]string{publicClient}))
			g.Expect(claims.ClientID).To(Equal(publicClient))
			g.Expect(claims.Scope).To(Equal("openid profile groups"))
			g.Expect(claims.IssuedAt.Time().Equal(issuedAt)).To(BeTrue())
			g.Expect(claims.Expiry.Time().Equal(issuedAt.Add(tokenLifetime))).To(BeTrue())
			g.Expect(claims.ID).NotTo(BeEmpty())
		})
	}
}

func TestTokenCarriesRequestedScopes(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	rec := e.do(request{
		path: deviceflow.DeviceAuthorizationPath,
		form: url.Values{"client_id": {publicClient}, "scope": {"groups openid"}},
	})
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	var da deviceAuthorization
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &da)).To(Succeed())
	e.approve(da, "alice")

	rec = e.poll(publicClient, da.DeviceCode)
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	var body tokenBody
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &body)).To(Succeed())
	g.Expect(body.Scope).To(Equal("groups openid"))
	g.Expect(verifyWithServedJWKS(t, e, body.AccessToken).Scope).To(Equal("groups openid"))
}

func TestTokenDropsScopesRemovedByReload(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	rec := e.do(request{
		path: deviceflow.DeviceAuthorizationPath,
		form: url.Values{"client_id": {publicClient}, "scope": {"groups openid"}},
	})
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	var da deviceAuthorization
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &da)).To(Succeed())
	e.approve(da, "alice")

	c := testConfig(issuerNoPath)
	for i := range c.Clients {
		if c.Clients[i].ClientID == publicClient {
			c.Clients[i].Scopes = []string{"openid"}
		}
	}
	e.setConfig(c)

	rec = e.poll(publicClient, da.DeviceCode)
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	var body tokenBody
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &body)).To(Succeed())
	g.Expect(body.Scope).To(Equal("openid"), "groups was removed from the client after the request")
	g.Expect(verifyWithServedJWKS(t, e, body.AccessToken).Scope).To(Equal("openid"))
}

func TestTokenLifetimeFollowsReload(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	da := e.authorize(publicClient)
	e.approve(da, "alice")

	c := testConfig(issuerNoPath)
	c.AccessTokenLifetimeSeconds = 60
	e.setConfig(c)

	rec := e.poll(publicClient, da.DeviceCode)
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	var body tokenBody
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &body)).To(Succeed())
	g.Expect(body.ExpiresIn).To(BeEquivalentTo(60))
}

func TestTokenClientRemovedByReload(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	da := e.authorize(publicClient)

	c := testConfig(issuerNoPath)
	c.Clients = c.Clients[:2]
	e.setConfig(c)

	g.Expect(e.pollError(publicClient, da.DeviceCode).Error).To(Equal("invalid_client"))
}

func TestTokenWrongMethod(t *testing.T) {
	e := newEnv(t)
	NewWithT(t).Expect(e.get(deviceflow.TokenPath).Code).To(Equal(http.StatusMethodNotAllowed))
}

func TestTokenSigningFailureIsServerError(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	da := e.authorize(publicClient)
	e.approve(da, "alice")
	e.keys = nil

	rec := e.poll(publicClient, da.DeviceCode)
	g.Expect(rec.Code).To(Equal(http.StatusInternalServerError))
	g.Expect(decodeError(t, rec).Error).To(Equal("server_error"))
	g.Expect(e.logs.String()).To(ContainSubstring("no signing key loaded"))
}
