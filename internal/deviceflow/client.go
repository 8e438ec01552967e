package deviceflow

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"

	"github.com/deviceauth/deviceauth-operator/internal/config"
)

// credentials is the client identity that a request presents.
type credentials struct {
	clientID string

	// secret is empty when the client presented none, which is how
	// public clients identify themselves.
	secret string

	// basic reports whether the request carried an Authorization header,
	// which decides the status of invalid_client.
	basic bool
}

// readCredentials reads the client's identity from HTTP Basic or from the
// client_id and client_secret parameters (RFC 6749 section 2.3.1). A
// Basic user name and password are form-url-encoded before base64, and an
// empty password identifies a public client the way client_id alone does.
func readCredentials(r *http.Request, f form) (credentials, error) {
	bodyID := f.get(paramClientID)
	bodySecret := f.get(paramClientSecret)

	if r.Header.Get("Authorization") == "" {
		if bodyID == "" {
			return credentials{}, newError(errInvalidRequest, "the parameter %s is missing", paramClientID)
		}
		return credentials{clientID: bodyID, secret: bodySecret}, nil
	}

	rawUser, rawPassword, ok := r.BasicAuth()
	if !ok {
		return credentials{}, invalidClient(true, "the Authorization header is not valid HTTP Basic")
	}
	user, errUser := url.QueryUnescape(rawUser)
	password, errPassword := url.QueryUnescape(rawPassword)
	if errUser != nil || errPassword != nil {
		return credentials{}, invalidClient(true, "the HTTP Basic credentials are not form-url-encoded")
	}

	// RFC 6749 section 2.3 allows one authentication method per request.
	if bodySecret != "" {
		return credentials{}, newError(errInvalidRequest,
			"the request authenticates with both HTTP Basic and %s", paramClientSecret)
	}
	if bodyID != "" && bodyID != user {
		return credentials{}, newError(errInvalidRequest,
			"the %s parameter differs from the HTTP Basic user name", paramClientID)
	}
	if user == "" {
		return credentials{}, newError(errInvalidRequest, "the parameter %s is missing", paramClientID)
	}
	return credentials{clientID: user, secret: password, basic: true}, nil
}

// authenticate returns the registered client that creds identify. A
// confidential client must present its secret when requireSecret is set,
// and otherwise its secret is checked only when presented. The client is
// returned with the error too, when it is registered, so that the caller
// can log its ID.
func authenticate(snap *config.Snapshot, creds credentials, requireSecret bool) (*config.Client, error) {
	client, ok := snap.Client(creds.clientID)
	if !ok {
		return nil, invalidClient(creds.basic, "unknown client")
	}

	switch client.Type {
	case config.ClientTypePublic:
		if creds.secret != "" {
			return client, invalidClient(creds.basic, "a public client must not present a client secret")
		}
		return client, nil

	case config.ClientTypeConfidential:
		if creds.secret == "" {
			if requireSecret {
				return client, invalidClient(creds.basic, fmt.Sprintf(
					"a confidential client must authenticate with %s or %s",
					authMethodClientSecretBasic, authMethodClientSecretPost))
			}
			return client, nil
		}
		return client, verifySecret(client, creds)
	}
	return client, serverError("the client is misconfigured",
		fmt.Errorf("client %q has unknown type %q", client.ClientID, client.Type))
}

// verifySecret compares the SHA-256 of the presented secret with the
// client's SecretSHA256 in constant time.
func verifySecret(client *config.Client, creds credentials) error {
	want, err := hex.DecodeString(client.SecretSHA256)
	if err != nil || len(want) != sha256.Size {
		return serverError("the client is misconfigured",
			fmt.Errorf("client %q has a secretSHA256 that is not %d hex bytes", client.ClientID, sha256.Size))
	}
	got := sha256.Sum256([]byte(creds.secret))
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return invalidClient(creds.basic, "client authentication failed")
	}
	return nil
}

func invalidClient(basic bool, description string) *oauthError {
	return &oauthError{code: errInvalidClient, description: description, basicChallenge: basic}
}
