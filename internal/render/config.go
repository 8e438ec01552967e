package render

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/config"
)

// MaxConfigBytes is the largest rendered config.json accepted. A Secret
// holds at most 1 MiB in total, and the limit leaves room for the Secret's
// metadata. A typical confidential client with three scopes takes about
// 300 bytes of compact JSON (TestConfigBytesPerClient measured 296), so the
// limit fits about 3,000 such clients.
const MaxConfigBytes = 900 * 1024

// DefaultAccessTokenLifetimeSeconds is the access token lifetime when
// spec.tokens.accessTokenLifetimeSeconds is unset. It matches the CRD
// schema default, for servers that did not pass through an API server.
const DefaultAccessTokenLifetimeSeconds int32 = 3600

// ConfigTooLargeError reports a rendered config over MaxConfigBytes.
type ConfigTooLargeError struct {
	Bytes   int
	Clients int
}

func (e *ConfigTooLargeError) Error() string {
	return fmt.Sprintf(
		"rendered config is %d bytes for %d clients, over the limit of %d bytes "+
			"(a Secret holds at most 1 MiB): remove clients or spread them over several DeviceAuthServers",
		e.Bytes, e.Clients, MaxConfigBytes)
}

// IsConfigTooLarge reports whether err is or wraps a *ConfigTooLargeError.
func IsConfigTooLarge(err error) bool {
	var tooLarge *ConfigTooLargeError
	return errors.As(err, &tooLarge)
}

// Config builds the server's config from the server and the verdicts that
// ResolveClients returned for its clients. Only accepted clients are in it,
// sorted by clientID.
func Config(server *v1alpha1.DeviceAuthServer, verdicts []ClientVerdict) (*config.Config, error) {
	lifetime := server.Spec.Tokens.AccessTokenLifetimeSeconds
	if lifetime == 0 {
		lifetime = DefaultAccessTokenLifetimeSeconds
	}
	cfg := &config.Config{
		Issuer:                     server.Spec.IssuerURL,
		AccessTokenLifetimeSeconds: lifetime,
		Clients:                    []config.Client{},
	}
	for _, verdict := range verdicts {
		if verdict.Accepted {
			cfg.Clients = append(cfg.Clients, verdict.Config)
		}
	}
	slices.SortFunc(cfg.Clients, func(a, b config.Client) int {
		return cmp.Compare(a.ClientID, b.ClientID)
	})

	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rendering config of DeviceAuthServer %s/%s: %w", server.Namespace, server.Name, err)
	}
	return cfg, nil
}

// ConfigSecretData encodes cfg as the data of the <server>-config Secret.
// The encoding is compact JSON with a trailing newline, and the same config
// always gives the same bytes. It returns a *ConfigTooLargeError when the
// file would exceed MaxConfigBytes.
func ConfigSecretData(cfg *config.Config) (map[string][]byte, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	data = append(data, '\n')
	if len(data) > MaxConfigBytes {
		return nil, &ConfigTooLargeError{Bytes: len(data), Clients: len(cfg.Clients)}
	}
	return map[string][]byte{config.FileName: data}, nil
}
