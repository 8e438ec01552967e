package deviceflow_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/internal/deviceflow"
	"github.com/deviceauth/deviceauth-operator/internal/store"
)

func TestDeviceAuthorizationResponse(t *testing.T) {
	cases := []struct {
		issuer       string
		clientID     string
		userCode     *regexp.Regexp
		wantExpires  int64
		wantInterval int64
	}{
		{issuerNoPath, publicClient, regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`), 300, 5},
		{issuerWithPath, publicClient, regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`), 300, 5},
		{issuerNoPath, digitsClient, regexp.MustCompile(`^[0-9]{4}-[0-9]{5}$`), 600, 10},
	}
	for _, tc := range cases {
		t.Run(tc.issuer+"/"+tc.clientID, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, withIssuer(tc.issuer))
			rec := e.do(request{path: deviceflow.DeviceAuthorizationPath, form: url.Values{"client_id": {tc.clientID}}})

			g.Expect(rec.Code).To(Equal(http.StatusOK), "body %s", rec.Body)
			g.Expect(rec.Header().Get("Content-Type")).To(Equal("application/json"))
			g.Expect(rec.Header().Get("Cache-Control")).To(Equal("no-store"))
			g.Expect(rec.Header().Get("Pragma")).To(Equal("no-cache"))

			// expires_in and interval are JSON integers, not strings or
			// fractions.
			var raw map[string]json.RawMessage
			g.Expect(json.Unmarshal(rec.Body.Bytes(), &raw)).To(Succeed())
			g.Expect(raw).To(HaveLen(6))
			g.Expect(string(raw["expires_in"])).To(MatchRegexp(`^[0-9]+$`))
			g.Expect(string(raw["interval"])).To(MatchRegexp(`^[0-9]+$`))

			var da deviceAuthorization
			g.Expect(json.Unmarshal(rec.Body.Bytes(), &da)).To(Succeed())
			g.Expect(da.UserCode).To(MatchRegexp(tc.userCode.String()))
			g.Expect(da.VerificationURI).To(Equal(tc.issuer + "/device"))
			g.Expect(da.VerificationURIComplete).To(Equal(tc.issuer + "/device?user_code=" + da.UserCode))
			g.Expect(da.ExpiresIn).To(Equal(tc.wantExpires))
			g.Expect(da.Interval).To(Equal(tc.wantInterval))

			decoded, err := base64.RawURLEncoding.DecodeString(da.DeviceCode)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(decoded).To(HaveLen(32))

			stored, err := e.memory.LookupUserCode(context.Background(), normalize(t, da.UserCode))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(stored.ClientID).To(Equal(tc.clientID))
			g.Expect(stored.DeviceCodeHash).To(Equal(secretSHA256(da.DeviceCode)))
			g.Expect(stored.ExpiresAt.Sub(stored.CreatedAt).Seconds()).To(BeEquivalentTo(tc.wantExpires))
			g.Expect(stored.CreatedAt.Equal(e.clock.Now())).To(BeTrue())
		})
	}
}

func TestDeviceAuthorizationCodesDiffer(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	first := e.authorize(publicClient)
	second := e.authorize(publicClient)
	g.Expect(second.DeviceCode).NotTo(Equal(first.DeviceCode))
	g.Expect(second.UserCode).NotTo(Equal(first.UserCode))
}

func TestDeviceAuthorizationScopes(t *testing.T) {
	cases := []struct {
		name       string
		form       url.Values
		wantScopes []string
	}{
		{"OmittedGrantsAll", url.Values{}, []string{"openid", "profile", "groups"}},
		{"EmptyGrantsAll", url.Values{"scope": {""}}, []string{"openid", "profile", "groups"}},
		{"Subset", url.Values{"scope": {"profile"}}, []string{"profile"}},
		{"DuplicatesDropped", url.Values{"scope": {"openid  profile openid"}}, []string{"openid", "profile"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t)
			tc.form.Set("client_id", publicClient)
			rec := e.do(request{path: deviceflow.DeviceAuthorizationPath, form: tc.form})
			g.Expect(rec.Code).To(Equal(http.StatusOK), "body %s", rec.Body)

			var da deviceAuthorization
			g.Expect(json.Unmarshal(rec.Body.Bytes(), &da)).To(Succeed())
			stored, err := e.memory.LookupUserCode(context.Background(), normalize(t, da.UserCode))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(stored.Scopes).To(Equal(tc.wantScopes))
		})
	}
}

func TestDeviceAuthorizationErrors(t *testing.T) {
	deviceRequest := func(f url.Values) request { return request{path: deviceflow.DeviceAuthorizationPath, form: f} }

	cases := []struct {
		name       string
		request    request
		wantStatus int
		wantError  string
	}{
		{
			name:      "NotForm",
			request:   request{path: deviceflow.DeviceAuthorizationPath, body: `{"client_id":"public-cli"}`, contentType: "application/json"},
			wantError: "invalid_request",
		},
		{
			name:      "MissingClientID",
			request:   deviceRequest(url.Values{"scope": {"openid"}}),
			wantError: "invalid_request",
		},
		{
			name:      "ClientIDOnlyInQuery",
			request:   request{path: deviceflow.DeviceAuthorizationPath, query: "client_id=" + publicClient},
			wantError: "invalid_request",
		},
		{
			name:      "RepeatedClientID",
			request:   deviceRequest(url.Values{"client_id": {publicClient, publicClient}}),
			wantError: "invalid_request",
		},
		{
			name:      "RepeatedScope",
			request:   deviceRequest(url.Values{"client_id": {publicClient}, "scope": {"openid", "profile"}}),
			wantError: "invalid_request",
		},
		{
			name:      "UnknownClient",
			request:   deviceRequest(url.Values{"client_id": {"unknown"}}),
			wantError: "invalid_client",
		},
		{
			name:       "UnknownClientBasic",
			request:    request{path: deviceflow.DeviceAuthorizationPath, authorization: basic("unknown", "")},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name:      "PublicClientPresentingSecret",
			request:   deviceRequest(url.Values{"client_id": {publicClient}, "client_secret": {"anything"}}),
			wantError: "invalid_client",
		},
		{
			name:      "ConfidentialWrongSecret",
			request:   deviceRequest(url.Values{"client_id": {confidentialClient}, "client_secret": {"wrong"}}),
			wantError: "invalid_client",
		},
		{
			name:       "ConfidentialWrongSecretBasic",
			request:    request{path: deviceflow.DeviceAuthorizationPath, authorization: basic(confidentialClient, "wrong")},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name: "BasicAndClientSecretPost",
			request: request{
				path:          deviceflow.DeviceAuthorizationPath,
				form:          url.Values{"client_secret": {confidentialSecret}},
				authorization: basic(confidentialClient, confidentialSecret),
			},
			wantError: "invalid_request",
		},
		{
			name:      "ScopeNotAllowed",
			request:   deviceRequest(url.Values{"client_id": {publicClient}, "scope": {"openid admin"}}),
			wantError: "invalid_scope",
		},
		{
			name:      "OtherClientsScope",
			request:   deviceRequest(url.Values{"client_id": {publicClient}, "scope": {"deploy"}}),
			wantError: "invalid_scope",
		},
		{
			name:       "ConfidentialWithoutSecret",
			request:    deviceRequest(url.Values{"client_id": {confidentialClient}}),
			wantStatus: http.StatusOK,
		},
		{
			name:       "ConfidentialSecretPost",
			request:    deviceRequest(url.Values{"client_id": {confidentialClient}, "client_secret": {confidentialSecret}}),
			wantStatus: http.StatusOK,
		},
		{
			name:       "ConfidentialSecretBasic",
			request:    request{path: deviceflow.DeviceAuthorizationPath, authorization: basic(confidentialClient, confidentialSecret)},
			wantStatus: http.StatusOK,
		},
		{
			name:       "PublicClientBasicEmptyPassword",
			request:    request{path: deviceflow.DeviceAuthorizationPath, authorization: basic(publicClient, "")},
			wantStatus: http.StatusOK,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t)
			rec := e.do(tc.request)

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
			}
			if tc.wantError != "" {
				body := decodeError(t, rec)
				g.Expect(body.Error).To(Equal(tc.wantError), "description %q", body.ErrorDescription)
				g.Expect(body.ErrorDescription).NotTo(BeEmpty())
			}
		})
	}
}

// takenStore rejects the first collisions calls of Create with
// ErrUserCodeTaken, as a store does when another authorization drew the
// same user code, and passes everything else to the real store.
type takenStore struct {
	store.Store
	collisions int
}

func (s *takenStore) Create(ctx context.Context, a store.Authorization) error {
	if s.collisions > 0 {
		s.collisions--
		return store.ErrUserCodeTaken
	}
	return s.Store.Create(ctx, a)
}

func TestDeviceAuthorizationRetriesTakenUserCode(t *testing.T) {
	g := NewWithT(t)
	taken := &takenStore{collisions: 3}
	e := newEnv(t, withStore(func(s store.Store) store.Store { taken.Store = s; return taken }))

	da := e.authorize(publicClient)
	g.Expect(da.DeviceCode).NotTo(BeEmpty())
	g.Expect(taken.collisions).To(Equal(0))
	g.Expect(counterValue(t, e, "deviceauth_user_code_collisions_total", nil)).To(Equal(3.0))
}

func TestDeviceAuthorizationGivesUpOnTakenUserCodes(t *testing.T) {
	g := NewWithT(t)
	taken := &takenStore{collisions: 1000}
	e := newEnv(t, withStore(func(s store.Store) store.Store { taken.Store = s; return taken }))

	rec := e.do(request{path: deviceflow.DeviceAuthorizationPath, form: url.Values{"client_id": {publicClient}}})
	g.Expect(rec.Code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(decodeError(t, rec).Error).To(Equal("temporarily_unavailable"))
	g.Expect(taken.collisions).To(Equal(1000-16), "attempts before giving up")
	g.Expect(e.memory.Len()).To(Equal(0))
}

func TestDeviceAuthorizationStoreUnreachable(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, withStore(func(store.Store) store.Store { return unreachableStore{} }))

	rec := e.do(request{path: deviceflow.DeviceAuthorizationPath, form: url.Values{"client_id": {publicClient}}})
	g.Expect(rec.Code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(decodeError(t, rec).Error).To(Equal("temporarily_unavailable"))
	g.Expect(bytes.Contains(rec.Body.Bytes(), []byte("connection refused"))).To(BeFalse(), "the cause stays in the log")
	g.Expect(e.logs.String()).To(ContainSubstring("connection refused"))
}
