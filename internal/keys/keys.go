// Package keys holds the server's key material: the RSA key that signs
// access tokens and the session key of the verification page. The operator
// generates both once into the <server>-keys Secret, and the server loads
// them from the directory where that Secret is mounted.
package keys

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/deviceauth/deviceauth-operator/internal/config"
)

const (
	// SigningKeyBits is the size of generated signing keys, and the
	// smallest size LoadDir accepts.
	SigningKeyBits = 2048

	// SessionKeySize is the length of the session key in bytes.
	SessionKeySize = 32
)

// pemTypePKCS8 is the PEM block type of a PKCS #8 private key.
const pemTypePKCS8 = "PRIVATE KEY"

// Set is the server's key material. A Set is never changed after it is
// built, so it may be shared between goroutines.
type Set struct {
	// SigningKey signs access tokens with RS256.
	SigningKey *rsa.PrivateKey

	// KeyID is the "kid" of SigningKey in token headers and the JWKS: its
	// RFC 7638 JWK thumbprint with SHA-256, base64url encoded.
	KeyID string

	// SessionKey is SessionKeySize random bytes that sign the verification
	// page's session and CSRF cookies.
	SessionKey []byte

	// signingKeyPEM is SigningKey as PKCS #8 PEM, encoded once by newSet.
	signingKeyPEM []byte
}

// Generate returns a Set with a new RSA signing key and a new session key.
func Generate() (*Set, error) {
	signingKey, err := rsa.GenerateKey(rand.Reader, SigningKeyBits)
	if err != nil {
		return nil, fmt.Errorf("generating RSA signing key: %w", err)
	}
	sessionKey := make([]byte, SessionKeySize)
	if _, err := rand.Read(sessionKey); err != nil {
		return nil, fmt.Errorf("generating session key: %w", err)
	}
	return newSet(signingKey, sessionKey)
}

func newSet(signingKey *rsa.PrivateKey, sessionKey []byte) (*Set, error) {
	kid, err := Thumbprint(&signingKey.PublicKey)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(signingKey)
	if err != nil {
		return nil, fmt.Errorf("encoding signing key as PKCS #8: %w", err)
	}
	return &Set{
		SigningKey:    signingKey,
		KeyID:         kid,
		SessionKey:    sessionKey,
		signingKeyPEM: pem.EncodeToMemory(&pem.Block{Type: pemTypePKCS8, Bytes: der}),
	}, nil
}

// LoadDir reads a Set from the files named config.SigningKeyFile and
// config.SessionKeyFile in dir, the layout that SecretData writes.
func LoadDir(dir string) (*Set, error) {
	signingPath := filepath.Join(dir, config.SigningKeyFile)
	signingPEM, err := os.ReadFile(signingPath)
	if err != nil {
		return nil, fmt.Errorf("reading signing key: %w; the keys directory must contain %s, "+
			"an RSA key as PKCS #8 PEM", err, config.SigningKeyFile)
	}
	sessionPath := filepath.Join(dir, config.SessionKeyFile)
	sessionData, err := os.ReadFile(sessionPath)
	if err != nil {
		return nil, fmt.Errorf("reading session key: %w; the keys directory must contain %s, "+
			"%d random bytes base64 encoded", err, config.SessionKeyFile, SessionKeySize)
	}
	return parse(signingPath, signingPEM, sessionPath, sessionData)
}

// FromSecretData builds a Set from the data of a <server>-keys Secret, the
// map that SecretData returns.
func FromSecretData(data map[string][]byte) (*Set, error) {
	signingPEM, ok := data[config.SigningKeyFile]
	if !ok {
		return nil, fmt.Errorf("key %s is missing; it must contain an RSA key as PKCS #8 PEM", config.SigningKeyFile)
	}
	sessionData, ok := data[config.SessionKeyFile]
	if !ok {
		return nil, fmt.Errorf("key %s is missing; it must contain %d random bytes base64 encoded",
			config.SessionKeyFile, SessionKeySize)
	}
	return parse(config.SigningKeyFile, signingPEM, config.SessionKeyFile, sessionData)
}

// parse builds a Set from the two keys' contents. The names identify the
// contents in errors: file paths or Secret keys.
func parse(signingName string, signingPEM []byte, sessionName string, sessionData []byte) (*Set, error) {
	signingKey, err := parseSigningKey(signingName, signingPEM)
	if err != nil {
		return nil, err
	}
	sessionKey, err := parseSessionKey(sessionName, sessionData)
	if err != nil {
		return nil, err
	}
	return newSet(signingKey, sessionKey)
}

func parseSigningKey(name string, data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("signing key %s is not PEM; write an RSA key as PKCS #8 PEM, "+
			"for example with: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048", name)
	}
	if block.Type != pemTypePKCS8 {
		return nil, fmt.Errorf("signing key %s has PEM type %q, want %q (PKCS #8); "+
			"convert it with: openssl pkcs8 -topk8 -nocrypt -in OLD -out NEW", name, block.Type, pemTypePKCS8)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing signing key %s as PKCS #8: %w", name, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s is a %T, want an RSA key, since tokens are signed with RS256", name, parsed)
	}
	if bits := key.N.BitLen(); bits < SigningKeyBits {
		return nil, fmt.Errorf("signing key %s has %d bits, want at least %d; generate a larger key", name, bits, SigningKeyBits)
	}
	return key, nil
}

func parseSessionKey(name string, data []byte) ([]byte, error) {
	data = bytes.TrimSpace(data)
	key := make([]byte, base64.StdEncoding.DecodedLen(len(data)))
	n, err := base64.StdEncoding.Decode(key, data)
	if err != nil {
		return nil, fmt.Errorf("session key %s is not standard base64: %w; "+
			"write %d random bytes base64 encoded, for example with: openssl rand -base64 %d",
			name, err, SessionKeySize, SessionKeySize)
	}
	if n != SessionKeySize {
		return nil, fmt.Errorf("session key %s decodes to %d bytes, want %d; "+
			"write %d random bytes base64 encoded, for example with: openssl rand -base64 %d",
			name, n, SessionKeySize, SessionKeySize, SessionKeySize)
	}
	return key[:n], nil
}

// SecretData returns the files of the <server>-keys Secret, keyed by file
// name, in the format that LoadDir reads. The caller owns the returned
// map and slices.
func (s *Set) SecretData() map[string][]byte {
	return map[string][]byte{
		config.SigningKeyFile: bytes.Clone(s.signingKeyPEM),
		config.SessionKeyFile: []byte(base64.StdEncoding.EncodeToString(s.SessionKey)),
	}
}

// Thumbprint returns the RFC 7638 JWK thumbprint of an RSA public key with
// SHA-256, base64url encoded without padding.
func Thumbprint(pub *rsa.PublicKey) (string, error) {
	if pub == nil || pub.N == nil || pub.E <= 0 {
		return "", errors.New("thumbprint of an empty RSA public key")
	}
	// The members required for an RSA JWK, in lexicographic order with
	// no whitespace, are e, kty and n. Base64url values need no JSON
	// escaping.
	e := bigEndian(uint64(pub.E))
	canonical := fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`,
		base64.RawURLEncoding.EncodeToString(e),
		base64.RawURLEncoding.EncodeToString(pub.N.Bytes()))
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// bigEndian returns v as big-endian bytes without leading zeros.
func bigEndian(v uint64) []byte {
	var b []byte
	for ; v > 0; v >>= 8 {
		b = append([]byte{byte(v)}, b...)
	}
	return b
}
