package config

import (
	"slices"
	"testing"
)

func TestGrantableScopesDropsRemovedScopes(t *testing.T) {
	c := &Client{Scopes: []string{"openid", "kubernetes"}}
	got := c.GrantableScopes([]string{"kubernetes", "profile", "openid"})
	if want := []string{"kubernetes", "openid"}; !slices.Equal(got, want) {
		t.Errorf("GrantableScopes = %q, want %q in the requested order", got, want)
	}
	if got := c.GrantableScopes(nil); len(got) != 0 {
		t.Errorf("GrantableScopes(nil) = %q, want none", got)
	}
}

func TestParseRejectsInvalidConfig(t *testing.T) {
	cases := map[string]string{
		"no issuer":                 `{"accessTokenLifetimeSeconds": 60}`,
		"no token lifetime":         `{"issuer": "https://a.example"}`,
		"duplicate client":          `{"issuer": "https://a.example", "accessTokenLifetimeSeconds": 60, "clients": [` + publicJSON + `,` + publicJSON + `]}`,
		"expiry not above interval": `{"issuer": "https://a.example", "accessTokenLifetimeSeconds": 60, "clients": [{"clientID": "c", "type": "public", "intervalSeconds": 5, "expiresInSeconds": 5, "userCodeCharset": "letters", "userCodeLength": 8}]}`,
		"confidential no hash":      `{"issuer": "https://a.example", "accessTokenLifetimeSeconds": 60, "clients": [{"clientID": "c", "type": "confidential", "intervalSeconds": 5, "expiresInSeconds": 60, "userCodeCharset": "letters", "userCodeLength": 8}]}`,
		"not JSON":                  `issuer: x`,
	}
	for name, data := range cases {
		if _, err := Parse([]byte(data)); err == nil {
			t.Errorf("%s: Parse accepted %s", name, data)
		}
	}
	valid := `{"issuer": "https://a.example", "accessTokenLifetimeSeconds": 60, "clients": [` + publicJSON + `]}`
	if _, err := Parse([]byte(valid)); err != nil {
		t.Errorf("Parse rejected a valid config: %v", err)
	}
}

const publicJSON = `{"clientID": "c", "type": "public", "intervalSeconds": 5, "expiresInSeconds": 60, "userCodeCharset": "letters", "userCodeLength": 8}`
