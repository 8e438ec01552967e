// Package config defines the server's configuration file, which the operator
// renders into the <server>-config Secret and the standalone mode builds in
// memory. The server never talks to the Kubernetes API: this file, the
// signing keys and the htpasswd file are all it reads.
package config

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// FileName is the key of the rendered config in the <server>-config Secret,
// and so the file name under the config mount.
const FileName = "config.json"

// Key file names in the <server>-keys Secret.
const (
	// SigningKeyFile holds the active token signing key: an RSA private key
	// as PKCS #8 PEM.
	SigningKeyFile = "signing-key.pem"

	// SessionKeyFile holds 32 random bytes, base64 encoded, that sign the
	// verification page's session and CSRF cookies.
	SessionKeyFile = "session-key"
)

// HtpasswdFileName is the key of the users file in the
// userAuthentication.static Secret.
const HtpasswdFileName = "htpasswd"

// Mount paths of the server container. The server takes them as flags, so
// the standalone mode and tests can point elsewhere.
const (
	ConfigMountPath = "/etc/deviceauth/config"
	KeysMountPath   = "/etc/deviceauth/keys"
	UsersMountPath  = "/etc/deviceauth/users"
)

// ClientType is the OAuth client type in the server config.
type ClientType string

const (
	ClientTypePublic       ClientType = "public"
	ClientTypeConfidential ClientType = "confidential"
)

// UserCodeCharset is the alphabet of a client's user codes.
type UserCodeCharset string

const (
	// UserCodeLetters is the 20 consonants BCDFGHJKLMNPQRSTVWXZ.
	UserCodeLetters UserCodeCharset = "letters"
	// UserCodeDigits is 0-9.
	UserCodeDigits UserCodeCharset = "digits"
)

// Config is the whole server configuration that may change while the server
// runs. Settings that cannot change live (listen addresses, storage type)
// are command-line flags instead.
type Config struct {
	// Issuer is the public base URL; every endpoint URL derives from it.
	Issuer string `json:"issuer"`

	// AccessTokenLifetimeSeconds is the lifetime of issued access tokens.
	AccessTokenLifetimeSeconds int32 `json:"accessTokenLifetimeSeconds"`

	// Clients is the client registry, sorted by ClientID.
	Clients []Client `json:"clients"`
}

// Client is one registered OAuth client with every default resolved.
type Client struct {
	ClientID    string     `json:"clientID"`
	DisplayName string     `json:"displayName,omitempty"`
	Type        ClientType `json:"type"`

	// SecretSHA256 is the lower-case hex SHA-256 of a confidential client's
	// secret. Empty for public clients. The secret itself never appears in
	// the config.
	SecretSHA256 string `json:"secretSHA256,omitempty"`

	// Scopes are the scopes the client may request.
	Scopes []string `json:"scopes,omitempty"`

	IntervalSeconds  int32           `json:"intervalSeconds"`
	ExpiresInSeconds int32           `json:"expiresInSeconds"`
	UserCodeCharset  UserCodeCharset `json:"userCodeCharset"`
	UserCodeLength   int32           `json:"userCodeLength"`
}

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data)
}

// Parse decodes and validates a config file's content.
func Parse(data []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decoding config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks the invariants that the server relies on.
func (c *Config) Validate() error {
	if c.Issuer == "" {
		return fmt.Errorf("config has no issuer")
	}
	if c.AccessTokenLifetimeSeconds <= 0 {
		return fmt.Errorf("config accessTokenLifetimeSeconds %d must be positive", c.AccessTokenLifetimeSeconds)
	}
	seen := make(map[string]bool, len(c.Clients))
	for _, cl := range c.Clients {
		if cl.ClientID == "" {
			return fmt.Errorf("config has a client without clientID")
		}
		if seen[cl.ClientID] {
			return fmt.Errorf("config lists client %q twice", cl.ClientID)
		}
		seen[cl.ClientID] = true
		if cl.Type == ClientTypeConfidential && len(cl.SecretSHA256) != 64 {
			return fmt.Errorf("confidential client %q has no valid secretSHA256", cl.ClientID)
		}
		if cl.IntervalSeconds < 1 || cl.ExpiresInSeconds <= cl.IntervalSeconds {
			return fmt.Errorf("client %q: expiresInSeconds %d must exceed intervalSeconds %d (at least 1)",
				cl.ClientID, cl.ExpiresInSeconds, cl.IntervalSeconds)
		}
		if cl.UserCodeCharset != UserCodeLetters && cl.UserCodeCharset != UserCodeDigits {
			return fmt.Errorf("client %q: unknown userCodeCharset %q", cl.ClientID, cl.UserCodeCharset)
		}
	}
	return nil
}

// Snapshot is a validated config with its clients indexed by ID, replaced
// whole on each reload so that a request reads one consistent version.
type Snapshot struct {
	Config *Config
	byID   map[string]*Client
}

// NewSnapshot indexes a validated config.
func NewSnapshot(c *Config) *Snapshot {
	s := &Snapshot{Config: c, byID: make(map[string]*Client, len(c.Clients))}
	for i := range c.Clients {
		s.byID[c.Clients[i].ClientID] = &c.Clients[i]
	}
	return s
}

// Client returns the client with the given ID.
func (s *Snapshot) Client(clientID string) (*Client, bool) {
	c, ok := s.byID[clientID]
	return c, ok
}

// GrantableScopes returns the scopes of requested that the client may
// still request, in their order. A client's scopes can shrink while an
// authorization is pending, and what it lost must not reach the approval
// page or a token.
func (c *Client) GrantableScopes(requested []string) []string {
	granted := make([]string, 0, len(requested))
	for _, scope := range requested {
		if slices.Contains(c.Scopes, scope) {
			granted = append(granted, scope)
		}
	}
	return granted
}
