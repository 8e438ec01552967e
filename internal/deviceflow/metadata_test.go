package deviceflow_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/internal/deviceflow"
)

func TestMetadataLocations(t *testing.T) {
	cases := []struct {
		issuer      string
		oauthPath   string
		openIDPath  string
		notServedAt []string
	}{
		{
			issuer:      issuerNoPath,
			oauthPath:   "/.well-known/oauth-authorization-server",
			openIDPath:  "/.well-known/openid-configuration",
			notServedAt: []string{"/.well-known/oauth-authorization-server/tenant"},
		},
		{
			issuer:     issuerWithPath,
			oauthPath:  "/.well-known/oauth-authorization-server/tenant",
			openIDPath: "/tenant/.well-known/openid-configuration",
			notServedAt: []string{
				"/.well-known/oauth-authorization-server",
				"/.well-known/openid-configuration",
				"/tenant/.well-known/oauth-authorization-server",
				"/.well-known/openid-configuration/tenant",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.issuer, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, withIssuer(tc.issuer))

			oauth := e.get(tc.oauthPath)
			g.Expect(oauth.Code).To(Equal(http.StatusOK), "GET %s", tc.oauthPath)
			g.Expect(oauth.Header().Get("Content-Type")).To(Equal("application/json"))
			openID := e.get(tc.openIDPath)
			g.Expect(openID.Code).To(Equal(http.StatusOK), "GET %s", tc.openIDPath)
			g.Expect(openID.Header().Get("Content-Type")).To(Equal("application/json"))
			g.Expect(openID.Body.String()).To(Equal(oauth.Body.String()))

			for _, path := range tc.notServedAt {
				g.Expect(e.get(path).Code).To(Equal(http.StatusNotFound), "GET %s", path)
			}
		})
	}
}

func TestMetadataFields(t *testing.T) {
	for _, issuer := range []string{issuerNoPath, issuerWithPath} {
		t.Run(issuer, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, withIssuer(issuer))
			prefix := strings.TrimPrefix(issuer, issuerNoPath)
			rec := e.get("/.well-known/oauth-authorization-server" + prefix)
			g.Expect(rec.Code).To(Equal(http.StatusOK))

			var doc map[string]any
			g.Expect(json.Unmarshal(rec.Body.Bytes(), &doc)).To(Succeed())
			g.Expect(doc).To(Equal(map[string]any{
				"issuer":                                issuer,
				"device_authorization_endpoint":         issuer + "/oauth2/device_authorization",
				"token_endpoint":                        issuer + "/oauth2/token",
				"jwks_uri":                              issuer + "/oauth2/jwks",
				"response_types_supported":              []any{},
				"grant_types_supported":                 []any{"urn:ietf:params:oauth:grant-type:device_code"},
				"token_endpoint_auth_methods_supported": []any{"none", "client_secret_basic", "client_secret_post"},
				"scopes_supported":                      []any{"deploy", "groups", "openid", "profile"},
				"subject_types_supported":               []any{"public"},
				"id_token_signing_alg_values_supported": []any{"RS256"},
			}))
		})
	}
}

// Every endpoint in the metadata is served at the path of its URL.
func TestMetadataEndpointsServed(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, withIssuer(issuerWithPath))
	var doc struct {
		DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
		TokenEndpoint               string `json:"token_endpoint"`
		JWKSURI                     string `json:"jwks_uri"`
	}
	rec := e.get("/tenant/.well-known/openid-configuration")
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &doc)).To(Succeed())

	pathOf := func(raw string) string {
		u, err := url.Parse(raw)
		g.Expect(err).NotTo(HaveOccurred())
		return u.Path
	}
	g.Expect(e.get(pathOf(doc.JWKSURI)).Code).To(Equal(http.StatusOK))

	e.prefix = ""
	rec = e.do(request{path: pathOf(doc.DeviceAuthorizationEndpoint), form: url.Values{"client_id": {publicClient}}})
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	var da deviceAuthorization
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &da)).To(Succeed())
	rec = e.do(request{path: pathOf(doc.TokenEndpoint), form: pollForm(publicClient, da.DeviceCode)})
	g.Expect(decodeError(t, rec).Error).To(Equal("authorization_pending"))

	rec = e.do(request{path: deviceflow.TokenPath, form: pollForm(publicClient, da.DeviceCode)})
	g.Expect(rec.Code).To(Equal(http.StatusNotFound), "the root path is not the issuer's")
}

func TestMetadataFollowsReloadedHost(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, withIssuer(issuerWithPath))
	e.setConfig(testConfig("https://login.example.test/tenant"))

	var doc map[string]any
	rec := e.get("/.well-known/oauth-authorization-server/tenant")
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &doc)).To(Succeed())
	g.Expect(doc["issuer"]).To(Equal("https://login.example.test/tenant"))
	g.Expect(doc["token_endpoint"]).To(Equal("https://login.example.test/tenant/oauth2/token"))

	da := e.authorize(publicClient)
	g.Expect(da.VerificationURI).To(Equal("https://login.example.test/tenant/device"))
}

func TestReloadedIssuerPathUnavailable(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, withIssuer(issuerWithPath))
	e.setConfig(testConfig("https://auth.example.test/other"))

	for _, rec := range []interface {
		Result() *http.Response
	}{
		e.get("/.well-known/oauth-authorization-server/tenant"),
		e.do(request{path: deviceflow.DeviceAuthorizationPath, form: url.Values{"client_id": {publicClient}}}),
		e.do(request{path: deviceflow.TokenPath, form: pollForm(publicClient, randomDeviceCode())}),
	} {
		resp := rec.Result()
		g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
		var body oauthError
		g.Expect(json.NewDecoder(resp.Body).Decode(&body)).To(Succeed())
		g.Expect(body.Error).To(Equal("temporarily_unavailable"))
	}
	g.Expect(e.logs.String()).To(ContainSubstring(`issuer path changed from \"/tenant\" to \"/other\"`))
}

func TestJWKS(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	rec := e.get(deviceflow.JWKSPath)
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	g.Expect(rec.Header().Get("Content-Type")).To(Equal("application/json"))

	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &doc)).To(Succeed())
	g.Expect(doc.Keys).To(HaveLen(1))
	g.Expect(doc.Keys[0]).To(HaveKeyWithValue("kid", e.keys.KeyID))
	g.Expect(doc.Keys[0]).To(HaveKeyWithValue("use", "sig"))
	g.Expect(doc.Keys[0]).To(HaveKeyWithValue("alg", "RS256"))
	g.Expect(doc.Keys[0]).NotTo(HaveKey("d"))
}

func TestJWKSWithoutKeys(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	e.keys = nil
	rec := e.get(deviceflow.JWKSPath)
	g.Expect(rec.Code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(decodeError(t, rec).Error).To(Equal("temporarily_unavailable"))
}

func TestIssuerPath(t *testing.T) {
	cases := []struct {
		issuer   string
		wantPath string
		wantErr  string
	}{
		{issuer: "https://auth.example.test", wantPath: ""},
		{issuer: "http://127.0.0.1:8080", wantPath: ""},
		{issuer: "https://auth.example.test/tenant", wantPath: "/tenant"},
		{issuer: "https://auth.example.test/a/b-c_d.e~f", wantPath: "/a/b-c_d.e~f"},
		{issuer: "https://auth.example.test/", wantErr: "must not end with a slash"},
		{issuer: "https://auth.example.test/tenant/", wantErr: "must not end with a slash"},
		{issuer: "ftp://auth.example.test", wantErr: "http or https"},
		{issuer: "auth.example.test", wantErr: "http or https"},
		{issuer: "https:///tenant", wantErr: "no host"},
		{issuer: "https://auth.example.test?x=1", wantErr: "no user info, query or fragment"},
		{issuer: "https://auth.example.test#x", wantErr: "no user info, query or fragment"},
		{issuer: "https://user@auth.example.test", wantErr: "no user info, query or fragment"},
		{issuer: "https://auth.example.test/a//b", wantErr: "path segment"},
		{issuer: "https://auth.example.test/a/../b", wantErr: "path segment"},
		{issuer: "https://auth.example.test/{x}", wantErr: "path segment"},
		{issuer: "https://auth.example.test/a%2Fb", wantErr: "percent-encoded"},
	}
	for _, tc := range cases {
		t.Run(tc.issuer, func(t *testing.T) {
			g := NewWithT(t)
			path, err := deviceflow.IssuerPath(tc.issuer)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(path).To(Equal(tc.wantPath))
		})
	}
}
