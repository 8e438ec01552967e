package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// accessTokenType is the "typ" header of RFC 9068 access tokens. Section 2.1
// of that RFC registers the media type application/at+jwt and recommends
// leaving out the prefix, so both forms are accepted.
const accessTokenType = "at+jwt"

// signatureAlgorithms are the JWS algorithms accepted on access tokens:
// asymmetric ones only, since the token is checked with published keys.
var signatureAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// accessTokenClaims are the RFC 9068 claims that login reads.
type accessTokenClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// verifyAccessToken checks the access token's signature against the
// issuer's JWKS, its typ header, and its iss, aud and exp claims, and
// returns its claims.
func verifyAccessToken(ctx context.Context, client *http.Client, md *serverMetadata, clientID, raw string, now time.Time) (*accessTokenClaims, error) {
	token, err := jwt.ParseSigned(raw, signatureAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("access token is not a signed JWT: %w", err)
	}
	if len(token.Headers) != 1 {
		return nil, errors.New("access token has more than one signature")
	}
	header := token.Headers[0]
	typ, _ := header.ExtraHeaders[jose.HeaderType].(string)
	if strings.TrimPrefix(strings.ToLower(typ), "application/") != accessTokenType {
		return nil, fmt.Errorf("access token has typ %q, expected %q", typ, accessTokenType)
	}

	var keySet jose.JSONWebKeySet
	if err := getJSON(ctx, client, md.JWKSURI, &keySet); err != nil {
		return nil, fmt.Errorf("reading the issuer's signing keys: %w", err)
	}
	key, err := signingKey(&keySet, header.KeyID)
	if err != nil {
		return nil, err
	}

	var claims accessTokenClaims
	if err := token.Claims(key.Public(), &claims); err != nil {
		return nil, fmt.Errorf("access token signature does not verify with the key %q from %s: %w",
			header.KeyID, md.JWKSURI, err)
	}
	if claims.Expiry == nil {
		return nil, errors.New("access token has no exp claim")
	}
	if claims.Subject == "" {
		return nil, errors.New("access token has no sub claim")
	}
	// A client checks with no leeway: an expired token is no use to it.
	expected := jwt.Expected{Issuer: md.Issuer, AnyAudience: jwt.Audience{clientID}, Time: now}
	if err := claims.ValidateWithLeeway(expected, 0); err != nil {
		return nil, fmt.Errorf("access token claims are invalid (iss %q, aud %q, exp %s): %w",
			claims.Issuer, []string(claims.Audience), claims.Expiry.Time().Format(time.RFC3339), err)
	}
	return &claims, nil
}

// signingKey returns the key with kid, or the only key of the set when the
// token names none.
func signingKey(keySet *jose.JSONWebKeySet, kid string) (*jose.JSONWebKey, error) {
	if kid == "" {
		if len(keySet.Keys) == 1 {
			return &keySet.Keys[0], nil
		}
		return nil, fmt.Errorf("access token names no key (kid) and the issuer publishes %d keys", len(keySet.Keys))
	}
	for _, k := range keySet.Key(kid) {
		if k.Use == "" || k.Use == "sig" {
			return &k, nil
		}
	}
	return nil, fmt.Errorf("the issuer publishes no signing key with kid %q", kid)
}
