package token_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/internal/keys"
	"github.com/deviceauth/deviceauth-operator/internal/token"
)

var generated = sync.OnceValues(keys.Generate)

func keySet(t *testing.T) *keys.Set {
	t.Helper()
	set, err := generated()
	if err != nil {
		t.Fatalf("generating keys: %v", err)
	}
	return set
}

var issuedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func accessToken() token.AccessToken {
	return token.AccessToken{
		Issuer:   "https://auth.example.com/tenant",
		Subject:  "alice",
		ClientID: "kubectl",
		Scopes:   []string{"openid", "groups"},
		IssuedAt: issuedAt,
		Lifetime: time.Hour,
	}
}

// publishedKeys returns the JWKS the way a relying party receives it: JSON
// decoded into a fresh key set.
func publishedKeys(t *testing.T, set *keys.Set) jose.JSONWebKeySet {
	t.Helper()
	data, err := token.MarshalJWKS(set)
	if err != nil {
		t.Fatal(err)
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(data, &jwks); err != nil {
		t.Fatal(err)
	}
	return jwks
}

type accessClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

func TestSignVerifiesAgainstJWKS(t *testing.T) {
	g := NewWithT(t)
	set := keySet(t)
	signed, err := token.Sign(set, accessToken())
	g.Expect(err).NotTo(HaveOccurred())

	parsed, err := jwt.ParseSigned(signed, []jose.SignatureAlgorithm{jose.RS256})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(parsed.Headers).To(HaveLen(1))
	header := parsed.Headers[0]
	g.Expect(header.Algorithm).To(Equal("RS256"))
	g.Expect(header.KeyID).To(Equal(set.KeyID))
	g.Expect(header.ExtraHeaders[jose.HeaderType]).To(Equal("at+jwt"))

	published := publishedKeys(t, set)
	matching := published.Key(header.KeyID)
	g.Expect(matching).To(HaveLen(1))

	var got accessClaims
	g.Expect(parsed.Claims(matching[0].Key, &got)).To(Succeed())
	g.Expect(got.Issuer).To(Equal("https://auth.example.com/tenant"))
	g.Expect(got.Subject).To(Equal("alice"))
	g.Expect([]string(got.Audience)).To(Equal([]string{"kubectl"}))
	g.Expect(got.ClientID).To(Equal("kubectl"))
	g.Expect(got.Scope).To(Equal("openid groups"))
	g.Expect(got.IssuedAt.Time().Equal(issuedAt)).To(BeTrue())
	g.Expect(got.Expiry.Time().Equal(issuedAt.Add(time.Hour))).To(BeTrue())
	g.Expect(got.ID).NotTo(BeEmpty())

	err = got.Claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      "https://auth.example.com/tenant",
		AnyAudience: jwt.Audience{"kubectl"},
		Time:        issuedAt.Add(time.Minute),
	}, 0)
	g.Expect(err).NotTo(HaveOccurred())
}

func TestSignRejectedByOtherKey(t *testing.T) {
	g := NewWithT(t)
	signed, err := token.Sign(keySet(t), accessToken())
	g.Expect(err).NotTo(HaveOccurred())
	other, err := keys.Generate()
	g.Expect(err).NotTo(HaveOccurred())

	parsed, err := jwt.ParseSigned(signed, []jose.SignatureAlgorithm{jose.RS256})
	g.Expect(err).NotTo(HaveOccurred())
	var got accessClaims
	g.Expect(parsed.Claims(&other.SigningKey.PublicKey, &got)).NotTo(Succeed())
}

func TestSignRawPayload(t *testing.T) {
	g := NewWithT(t)
	signed, err := token.Sign(keySet(t), accessToken())
	g.Expect(err).NotTo(HaveOccurred())
	parsed, err := jwt.ParseSigned(signed, []jose.SignatureAlgorithm{jose.RS256})
	g.Expect(err).NotTo(HaveOccurred())

	var raw map[string]any
	g.Expect(parsed.UnsafeClaimsWithoutVerification(&raw)).To(Succeed())
	g.Expect(raw).To(HaveKeyWithValue("aud", "kubectl"), "a single audience is a string")
	g.Expect(raw).To(HaveKeyWithValue("iat", BeNumerically("==", issuedAt.Unix())))
	g.Expect(raw).To(HaveKeyWithValue("exp", BeNumerically("==", issuedAt.Add(time.Hour).Unix())))
	g.Expect(raw).To(HaveKey("jti"))
	g.Expect(raw).NotTo(HaveKey("nbf"))
}

func TestSignFreshJTI(t *testing.T) {
	g := NewWithT(t)
	set := keySet(t)
	seen := map[string]bool{}
	for range 20 {
		signed, err := token.Sign(set, accessToken())
		g.Expect(err).NotTo(HaveOccurred())
		parsed, err := jwt.ParseSigned(signed, []jose.SignatureAlgorithm{jose.RS256})
		g.Expect(err).NotTo(HaveOccurred())
		var got accessClaims
		g.Expect(parsed.Claims(&set.SigningKey.PublicKey, &got)).To(Succeed())
		g.Expect(seen).NotTo(HaveKey(got.ID))
		seen[got.ID] = true
	}
}

func TestSignErrors(t *testing.T) {
	g := NewWithT(t)
	_, err := token.Sign(nil, accessToken())
	g.Expect(err).To(MatchError(ContainSubstring("no signing key")))

	zero := accessToken()
	zero.Lifetime = 0
	_, err = token.Sign(keySet(t), zero)
	g.Expect(err).To(MatchError(ContainSubstring("lifetime")))
}

func TestJWKSPublicOnly(t *testing.T) {
	g := NewWithT(t)
	set := keySet(t)
	data, err := token.MarshalJWKS(set)
	g.Expect(err).NotTo(HaveOccurred())

	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	g.Expect(json.Unmarshal(data, &doc)).To(Succeed())
	g.Expect(doc.Keys).To(HaveLen(1))
	key := doc.Keys[0]
	g.Expect(key).To(HaveKeyWithValue("kty", "RSA"))
	g.Expect(key).To(HaveKeyWithValue("kid", set.KeyID))
	g.Expect(key).To(HaveKeyWithValue("use", "sig"))
	g.Expect(key).To(HaveKeyWithValue("alg", "RS256"))
	g.Expect(key).To(HaveKey("n"))
	g.Expect(key).To(HaveKeyWithValue("e", "AQAB"))
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		g.Expect(key).NotTo(HaveKey(private))
	}
	g.Expect(strings.Contains(string(data), "PRIVATE")).To(BeFalse())
	g.Expect(publishedKeys(t, set).Keys[0].IsPublic()).To(BeTrue())
}
