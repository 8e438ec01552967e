package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// deviceCodeGrantType is the grant type of RFC 8628 section 3.4.
const deviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// metadataSuffix is the well-known URI suffix of RFC 8414 section 3.
const metadataSuffix = "oauth-authorization-server"

// maxResponseBytes bounds the metadata and JWKS documents that are read.
const maxResponseBytes = 1 << 20

// serverMetadata holds the fields of RFC 8414 authorization server metadata
// that login uses.
type serverMetadata struct {
	Issuer                            string   `json:"issuer"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
}

// parseIssuer checks that issuer is an absolute http or https URL with no
// query or fragment, as RFC 8414 section 2 requires, and that plain http is
// used only on loopback, where nothing else can read the traffic.
func parseIssuer(issuer string) (*url.URL, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, fmt.Errorf("invalid --issuer %q: %w", issuer, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("invalid --issuer %q: expected an absolute https URL", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(issuer, "?") || strings.HasSuffix(issuer, "#") {
		return nil, fmt.Errorf("invalid --issuer %q: an issuer has no query or fragment", issuer)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("invalid --issuer %q: plain http is allowed only for loopback addresses; use https", issuer)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// metadataURL returns where RFC 8414 section 3.1 puts the metadata of
// issuer: the well-known segment goes between the host and the issuer's
// path, so https://example.com/tenant serves it at
// https://example.com/.well-known/oauth-authorization-server/tenant.
func metadataURL(issuer *url.URL) string {
	u := *issuer
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	u.RawPath = ""
	u.Path = ""
	return u.String() + "/.well-known/" + metadataSuffix + path
}

// fetchMetadata gets the issuer's metadata and checks it as RFC 8414
// section 3.3 requires: the issuer in the document must equal the issuer
// the user gave, byte for byte, or the document is not to be trusted.
func fetchMetadata(ctx context.Context, client *http.Client, issuer *url.URL, rawIssuer string) (*serverMetadata, error) {
	metaURL := metadataURL(issuer)
	var md serverMetadata
	if err := getJSON(ctx, client, metaURL, &md); err != nil {
		return nil, fmt.Errorf("reading metadata of issuer %s: %w", rawIssuer, err)
	}
	if md.Issuer != rawIssuer {
		return nil, fmt.Errorf("metadata at %s names issuer %q, not %q: pass the server's issuer as --issuer, "+
			"or, if the server is only reachable at %s, set its issuerURL to that URL",
			metaURL, md.Issuer, rawIssuer, rawIssuer)
	}
	if md.DeviceAuthorizationEndpoint == "" || md.TokenEndpoint == "" || md.JWKSURI == "" {
		return nil, fmt.Errorf("metadata at %s lacks device_authorization_endpoint, token_endpoint or jwks_uri", metaURL)
	}
	if len(md.GrantTypesSupported) > 0 && !slices.Contains(md.GrantTypesSupported, deviceCodeGrantType) {
		return nil, fmt.Errorf("issuer %s does not support the device authorization grant (grant_types_supported)", rawIssuer)
	}
	return &md, nil
}

// getJSON decodes the JSON body of a GET of rawURL into dest.
func getJSON(ctx context.Context, client *http.Client, rawURL string, dest any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the server: %w", err)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("reading %s: %w", rawURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s returned %s", rawURL, resp.Status)
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json") {
		return fmt.Errorf("GET %s returned Content-Type %q, expected application/json", rawURL, mediaType)
	}
	if err := json.Unmarshal(body, dest); err != nil {
		return fmt.Errorf("decoding %s: %w", rawURL, err)
	}
	return nil
}
