// Package token issues access tokens as JWTs in the RFC 9068 profile and
// publishes the keys that verify them as a JWK Set.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/deviceauth/deviceauth-operator/internal/keys"
)

// JWTType is the "typ" header of access tokens (RFC 9068 section 2.1).
const JWTType = "at+jwt"

// Algorithm is the signature algorithm of access tokens. kube-apiserver's
// JWT authenticator and most libraries accept RS256.
const Algorithm = jose.RS256

// AccessToken is the content of an access token before signing.
type AccessToken struct {
	// Issuer is the "iss" claim: the server's issuer URL.
	Issuer string

	// Subject is the "sub" claim: the user who approved the request.
	Subject string

	// ClientID is the "client_id" claim. It is also the "aud" claim,
	// because the server has no registry of resource servers.
	ClientID string

	// Scopes are joined with spaces into the "scope" claim.
	Scopes []string

	// IssuedAt is the "iat" claim; IssuedAt plus Lifetime is "exp".
	IssuedAt time.Time
	Lifetime time.Duration
}

// claims is the JWT payload. Registered claims come from jwt.Claims.
type claims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
}

// Sign returns t as a compact JWS signed with the set's signing key, with
// a fresh random "jti".
func Sign(set *keys.Set, t AccessToken) (string, error) {
	if set == nil || set.SigningKey == nil {
		return "", errors.New("signing access token: no signing key loaded")
	}
	if t.Lifetime <= 0 {
		return "", fmt.Errorf("signing access token: lifetime %s must be positive", t.Lifetime)
	}
	jti, err := newJTI()
	if err != nil {
		return "", err
	}

	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: Algorithm, Key: jose.JSONWebKey{Key: set.SigningKey, KeyID: set.KeyID}},
		(&jose.SignerOptions{}).WithType(JWTType),
	)
	if err != nil {
		return "", fmt.Errorf("creating access token signer: %w", err)
	}

	payload := claims{
		Claims: jwt.Claims{
			Issuer:   t.Issuer,
			Subject:  t.Subject,
			Audience: jwt.Audience{t.ClientID},
			IssuedAt: jwt.NewNumericDate(t.IssuedAt),
			Expiry:   jwt.NewNumericDate(t.IssuedAt.Add(t.Lifetime)),
			ID:       jti,
		},
		ClientID: t.ClientID,
		Scope:    strings.Join(t.Scopes, " "),
	}
	signed, err := jwt.Signed(signer).Claims(payload).Serialize()
	if err != nil {
		return "", fmt.Errorf("signing access token: %w", err)
	}
	return signed, nil
}

// newJTI returns 128 random bits, base64url encoded.
func newJTI() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating token ID: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// JWKS returns the JWK Set that verifies tokens signed with set: the
// public half of each signing key, with its "kid", "use" and "alg".
func JWKS(set *keys.Set) jose.JSONWebKeySet {
	// TODO: publish the previous signing key too while keys rotate, so
	// that tokens signed just before a rotation still verify.
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key:       &set.SigningKey.PublicKey,
		KeyID:     set.KeyID,
		Algorithm: string(Algorithm),
		Use:       "sig",
	}}}
}

// MarshalJWKS returns JWKS(set) as JSON.
func MarshalJWKS(set *keys.Set) ([]byte, error) {
	data, err := json.Marshal(JWKS(set))
	if err != nil {
		return nil, fmt.Errorf("encoding JWKS: %w", err)
	}
	return data, nil
}
