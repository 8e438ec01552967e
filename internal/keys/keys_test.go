package keys_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/keys"
)

var generated = sync.OnceValues(keys.Generate)

func generatedSet(t *testing.T) *keys.Set {
	t.Helper()
	set, err := generated()
	if err != nil {
		t.Fatalf("generating keys: %v", err)
	}
	return set
}

func TestGenerate(t *testing.T) {
	g := NewWithT(t)
	set := generatedSet(t)

	g.Expect(set.SigningKey.N.BitLen()).To(Equal(keys.SigningKeyBits))
	g.Expect(set.SessionKey).To(HaveLen(keys.SessionKeySize))
	kid, err := keys.Thumbprint(&set.SigningKey.PublicKey)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(set.KeyID).To(Equal(kid))
}

// The RSA example of RFC 7638 section 3.1 and the thumbprint it gives.
func TestThumbprintRFC7638Example(t *testing.T) {
	g := NewWithT(t)
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4" +
		"cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6C" +
		"f0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTW" +
		"hAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	g.Expect(err).NotTo(HaveOccurred())

	got, err := keys.Thumbprint(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"))
}

func TestThumbprintMatchesGoJose(t *testing.T) {
	g := NewWithT(t)
	set := generatedSet(t)
	jwk := jose.JSONWebKey{Key: &set.SigningKey.PublicKey}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(set.KeyID).To(Equal(base64.RawURLEncoding.EncodeToString(sum)))
}

func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSecretDataRoundTrip(t *testing.T) {
	g := NewWithT(t)
	set := generatedSet(t)
	data := set.SecretData()
	g.Expect(data).To(HaveLen(2))
	g.Expect(string(data[config.SigningKeyFile])).To(HavePrefix("-----BEGIN PRIVATE KEY-----\n"))

	loaded, err := keys.LoadDir(writeFiles(t, data))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(loaded.SigningKey.Equal(set.SigningKey)).To(BeTrue())
	g.Expect(loaded.SessionKey).To(Equal(set.SessionKey))
	g.Expect(loaded.KeyID).To(Equal(set.KeyID))
}

func TestFromSecretDataRoundTrip(t *testing.T) {
	g := NewWithT(t)
	set := generatedSet(t)
	loaded, err := keys.FromSecretData(set.SecretData())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(loaded.SigningKey.Equal(set.SigningKey)).To(BeTrue())
	g.Expect(loaded.SessionKey).To(Equal(set.SessionKey))
	g.Expect(loaded.KeyID).To(Equal(set.KeyID))
}

func TestFromSecretDataErrors(t *testing.T) {
	good := generatedSet(t).SecretData()
	cases := []struct {
		name    string
		missing string
		replace []byte
		want    []string
	}{
		{name: "MissingSigningKey", missing: config.SigningKeyFile, want: []string{config.SigningKeyFile, "missing"}},
		{name: "MissingSessionKey", missing: config.SessionKeyFile, want: []string{config.SessionKeyFile, "missing"}},
		{name: "SessionKeyInvalid", replace: []byte("short"), want: []string{config.SessionKeyFile, "base64"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			data := map[string][]byte{}
			for k, v := range good {
				if k != tc.missing {
					data[k] = v
				}
			}
			if tc.replace != nil {
				data[config.SessionKeyFile] = tc.replace
			}
			_, err := keys.FromSecretData(data)
			g.Expect(err).To(HaveOccurred())
			for _, want := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(want))
			}
		})
	}
}

func TestSecretDataIsACopy(t *testing.T) {
	g := NewWithT(t)
	set := generatedSet(t)
	data := set.SecretData()
	data[config.SigningKeyFile][0] = 'X'
	g.Expect(string(set.SecretData()[config.SigningKeyFile])).To(HavePrefix("-----BEGIN"))
}

// kubelet mounts a Secret as symlinks into a ..data directory that it
// swaps on each update.
func TestLoadDirFollowsSecretVolumeSymlinks(t *testing.T) {
	g := NewWithT(t)
	set := generatedSet(t)
	dir := t.TempDir()
	version := filepath.Join(dir, "..2026_01_02_03_04_05.000000001")
	g.Expect(os.Mkdir(version, 0o700)).To(Succeed())
	for name, data := range set.SecretData() {
		g.Expect(os.WriteFile(filepath.Join(version, name), data, 0o600)).To(Succeed())
		g.Expect(os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name))).To(Succeed())
	}
	g.Expect(os.Symlink(filepath.Base(version), filepath.Join(dir, "..data"))).To(Succeed())

	loaded, err := keys.LoadDir(dir)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(loaded.KeyID).To(Equal(set.KeyID))
}

func TestLoadDirSessionKeyWithNewline(t *testing.T) {
	g := NewWithT(t)
	data := generatedSet(t).SecretData()
	data[config.SessionKeyFile] = append(data[config.SessionKeyFile], '\n')
	_, err := keys.LoadDir(writeFiles(t, data))
	g.Expect(err).NotTo(HaveOccurred())
}

func pemBlock(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

func TestLoadDirErrors(t *testing.T) {
	set := generatedSet(t)
	good := set.SecretData()

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	smallKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, err := x509.MarshalPKCS8PrivateKey(smallKey)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name       string
		signingKey []byte
		sessionKey []byte
		want       []string
	}{
		{
			name:       "MissingSigningKey",
			sessionKey: good[config.SessionKeyFile],
			want:       []string{config.SigningKeyFile, "PKCS #8"},
		},
		{
			name:       "SigningKeyNotPEM",
			signingKey: []byte("not a key"),
			sessionKey: good[config.SessionKeyFile],
			want:       []string{config.SigningKeyFile, "is not PEM", "openssl genpkey"},
		},
		{
			name:       "SigningKeyPKCS1",
			signingKey: pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(set.SigningKey)),
			sessionKey: good[config.SessionKeyFile],
			want:       []string{config.SigningKeyFile, `"RSA PRIVATE KEY"`, "openssl pkcs8 -topk8"},
		},
		{
			name:       "SigningKeyCorrupt",
			signingKey: pemBlock("PRIVATE KEY", []byte("garbage")),
			sessionKey: good[config.SessionKeyFile],
			want:       []string{config.SigningKeyFile, "parsing signing key"},
		},
		{
			name:       "SigningKeyNotRSA",
			signingKey: pemBlock("PRIVATE KEY", ecDER),
			sessionKey: good[config.SessionKeyFile],
			want:       []string{config.SigningKeyFile, "want an RSA key"},
		},
		{
			name:       "SigningKeyTooSmall",
			signingKey: pemBlock("PRIVATE KEY", smallDER),
			sessionKey: good[config.SessionKeyFile],
			want:       []string{config.SigningKeyFile, "1024 bits", "at least 2048"},
		},
		{
			name:       "MissingSessionKey",
			signingKey: good[config.SigningKeyFile],
			want:       []string{config.SessionKeyFile, "base64"},
		},
		{
			name:       "SessionKeyNotBase64",
			signingKey: good[config.SigningKeyFile],
			sessionKey: []byte("not base64!"),
			want:       []string{config.SessionKeyFile, "not standard base64", "openssl rand -base64 32"},
		},
		{
			name:       "SessionKeyTooShort",
			signingKey: good[config.SigningKeyFile],
			sessionKey: []byte(base64.StdEncoding.EncodeToString(make([]byte, 16))),
			want:       []string{config.SessionKeyFile, "16 bytes, want 32"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			files := map[string][]byte{}
			if tc.signingKey != nil {
				files[config.SigningKeyFile] = tc.signingKey
			}
			if tc.sessionKey != nil {
				files[config.SessionKeyFile] = tc.sessionKey
			}
			_, err := keys.LoadDir(writeFiles(t, files))
			g.Expect(err).To(HaveOccurred())
			for _, want := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(want))
			}
		})
	}
}
