package render

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/config"
)

func TestConfigListsAcceptedClientsByID(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	zeta := testClient("auth", "a-object", 0)
	zeta.Spec.ClientID = "zeta"
	alpha := testClient("auth", "b-object", 0)
	alpha.Spec.ClientID = "alpha"
	outsider := testClient("team-a", "outsider", 0)
	verdicts := ResolveClients(server, []v1alpha1.DeviceAuthClient{zeta, alpha, outsider}, nil)

	cfg, err := Config(server, verdicts)

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Issuer).To(Equal("https://login.example.com"))
	g.Expect(cfg.AccessTokenLifetimeSeconds).To(Equal(int32(600)))
	g.Expect(cfg.Clients).To(HaveLen(2))
	g.Expect(cfg.Clients[0].ClientID).To(Equal("alpha"))
	g.Expect(cfg.Clients[1].ClientID).To(Equal("zeta"))
}

func TestConfigDefaultsTokenLifetime(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	server.Spec.Tokens.AccessTokenLifetimeSeconds = 0

	cfg, err := Config(server, nil)

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.AccessTokenLifetimeSeconds).To(Equal(DefaultAccessTokenLifetimeSeconds))
	g.Expect(cfg.Clients).NotTo(BeNil(), "an empty registry encodes as [] rather than null")
}

func TestConfigRejectsMissingIssuer(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	server.Spec.IssuerURL = ""

	_, err := Config(server, nil)

	g.Expect(err).To(MatchError(ContainSubstring("auth/login")))
}

func TestConfigSecretDataRoundTrips(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	bot := testClient("auth", "bot", 0)
	bot.Spec.ClientType = v1alpha1.ClientTypeConfidential
	secrets := secretWith("auth", "bot-client-secret", map[string][]byte{"clientSecret": []byte("plaintext-secret-value")})
	clients := []v1alpha1.DeviceAuthClient{bot, testClient("auth", "cli", 0)}

	cfg, err := Config(server, ResolveClients(server, clients, secrets))
	g.Expect(err).NotTo(HaveOccurred())
	data, err := ConfigSecretData(cfg)
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(data).To(HaveLen(1))
	encoded := data[config.FileName]
	g.Expect(encoded).To(HaveSuffix("\n"))
	g.Expect(string(encoded)).NotTo(ContainSubstring("plaintext-secret-value"))
	parsed, err := config.Parse(encoded)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(parsed).To(Equal(cfg))
}

func TestConfigSecretDataIsDeterministic(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	var clients []v1alpha1.DeviceAuthClient
	for i := range 50 {
		c := testClient("auth", fmt.Sprintf("client-%02d", i), i)
		c.Spec.Scopes = []string{"write", "read", "openid"}
		clients = append(clients, c)
	}
	reversed := make([]v1alpha1.DeviceAuthClient, len(clients))
	for i, c := range clients {
		reversed[len(clients)-1-i] = c
	}

	render := func(clients []v1alpha1.DeviceAuthClient) []byte {
		cfg, err := Config(server, ResolveClients(server, clients, nil))
		g.Expect(err).NotTo(HaveOccurred())
		data, err := ConfigSecretData(cfg)
		g.Expect(err).NotTo(HaveOccurred())
		return data[config.FileName]
	}

	g.Expect(bytes.Equal(render(clients), render(reversed))).To(BeTrue())
}

// typicalClient is a client entry of the size most deployments have: a
// short ID and display name, a confidential secret hash and three scopes.
func typicalClient(i int) config.Client {
	return config.Client{
		ClientID:         fmt.Sprintf("team-%04d-cli", i),
		DisplayName:      fmt.Sprintf("Team %04d CLI", i),
		Type:             config.ClientTypeConfidential,
		SecretSHA256:     strings.Repeat("ab", 32),
		Scopes:           []string{"openid", "profile", "kubernetes"},
		IntervalSeconds:  5,
		ExpiresInSeconds: 300,
		UserCodeCharset:  config.UserCodeLetters,
		UserCodeLength:   8,
	}
}

func TestConfigBytesPerClient(t *testing.T) {
	g := NewWithT(t)
	encode := func(n int) int {
		cfg := &config.Config{Issuer: "https://login.example.com", AccessTokenLifetimeSeconds: 3600}
		for i := range n {
			cfg.Clients = append(cfg.Clients, typicalClient(i))
		}
		data, err := ConfigSecretData(cfg)
		g.Expect(err).NotTo(HaveOccurred())
		return len(data[config.FileName])
	}

	perClient := encode(1001) - encode(1)
	perClient /= 1000
	t.Logf("a typical client takes %d bytes of config.json; %d such clients fit in %d bytes",
		perClient, MaxConfigBytes/perClient, MaxConfigBytes)

	g.Expect(perClient).To(BeNumerically("<=", 320))
	g.Expect(MaxConfigBytes / perClient).To(BeNumerically(">=", 2800))
}

func TestConfigSecretDataTooLarge(t *testing.T) {
	g := NewWithT(t)
	cfg := &config.Config{Issuer: "https://login.example.com", AccessTokenLifetimeSeconds: 3600}
	// Start below the limit, then add clients one at a time until it fails.
	for i := range MaxConfigBytes / 400 {
		cfg.Clients = append(cfg.Clients, typicalClient(i))
	}
	for i := len(cfg.Clients); ; i++ {
		cfg.Clients = append(cfg.Clients, typicalClient(i))
		if _, err := ConfigSecretData(cfg); err != nil {
			g.Expect(IsConfigTooLarge(err)).To(BeTrue())
			g.Expect(err).To(MatchError(ContainSubstring(fmt.Sprintf("for %d clients", len(cfg.Clients)))))
			g.Expect(err).To(MatchError(ContainSubstring("remove clients")))
			break
		}
	}

	// One client fewer is the largest config that fits.
	cfg.Clients = cfg.Clients[:len(cfg.Clients)-1]
	data, err := ConfigSecretData(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(data[config.FileName])).To(BeNumerically("<=", MaxConfigBytes))
	g.Expect(len(data[config.FileName])).To(BeNumerically(">", MaxConfigBytes-400))
}
