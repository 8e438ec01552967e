package deviceflow

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/token"
)

// metadataDocument is the authorization server metadata of RFC 8414
// section 2, which also serves as the OpenID Connect discovery document.
//
// The server issues no ID tokens yet. The OpenID fields are there because
// OpenID Connect Discovery 1.0 requires them and because relying parties
// such as kube-apiserver's JWT authenticator find jwks_uri through the
// discovery document.
type metadataDocument struct {
	Issuer                      string `json:"issuer"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
	TokenEndpoint               string `json:"token_endpoint"`
	JWKSURI                     string `json:"jwks_uri"`

	// ResponseTypesSupported is REQUIRED by RFC 8414 but lists the
	// response_type values of the authorization endpoint, which this
	// server does not have, so the list is empty. "none" would claim an
	// authorization endpoint that returns nothing.
	ResponseTypesSupported []string `json:"response_types_supported"`

	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`

	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
}

func marshalMetadata(snap *config.Snapshot) ([]byte, error) {
	issuer := snap.Config.Issuer
	doc := metadataDocument{
		Issuer:                      issuer,
		DeviceAuthorizationEndpoint: issuer + DeviceAuthorizationPath,
		TokenEndpoint:               issuer + TokenPath,
		JWKSURI:                     issuer + JWKSPath,
		ResponseTypesSupported:      []string{},
		GrantTypesSupported:         []string{GrantTypeDeviceCode},
		TokenEndpointAuthMethodsSupported: []string{
			authMethodNone,
			authMethodClientSecretBasic,
			authMethodClientSecretPost,
		},
		ScopesSupported:                  supportedScopes(snap.Config.Clients),
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{string(token.Algorithm)},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding metadata: %w", err)
	}
	return data, nil
}

// supportedScopes returns the sorted union of the clients' scopes.
func supportedScopes(clients []config.Client) []string {
	scopes := []string{}
	for _, c := range clients {
		scopes = append(scopes, c.Scopes...)
	}
	slices.Sort(scopes)
	return slices.Compact(scopes)
}

func (h *Handler) metadata(_ *http.Request, snap *config.Snapshot, ex *exchange) error {
	ex.outcome = outcomeServed
	ex.writeJSON(http.StatusOK, json.RawMessage(h.currentIssuer(snap).metadata))
	return nil
}

func (h *Handler) jwks(_ *http.Request, _ *config.Snapshot, ex *exchange) error {
	set := h.opts.Keys()
	if set == nil || set.SigningKey == nil {
		return unavailable("the server has no signing keys loaded", fmt.Errorf("no key set"))
	}
	data, err := token.MarshalJWKS(set)
	if err != nil {
		return serverError("encoding the JWKS failed", err)
	}
	ex.outcome = outcomeServed
	ex.writeJSON(http.StatusOK, json.RawMessage(data))
	return nil
}
