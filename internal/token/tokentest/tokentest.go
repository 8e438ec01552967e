// Package tokentest verifies access tokens the way a resource server
// would: against the keys that the issuer's JWKS endpoint publishes.
package tokentest

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// VerifyWithJWKS fetches the JWKS document at jwksURL, checks the RS256
// signature of the compact JWT raw against it, and returns the claims.
// It checks no claim: the caller asserts on the ones it cares about.
func VerifyWithJWKS(jwksURL, raw string) (map[string]any, error) {
	resp, err := http.Get(jwksURL)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching JWKS: status %d", resp.StatusCode)
	}
	var keys jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&keys); err != nil {
		return nil, fmt.Errorf("decoding JWKS: %w", err)
	}

	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("parsing access token: %w", err)
	}
	claims := map[string]any{}
	if err := tok.Claims(keys, &claims); err != nil {
		return nil, fmt.Errorf("access token does not verify against the JWKS: %w", err)
	}
	return claims, nil
}
