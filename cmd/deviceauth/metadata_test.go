package main

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestMetadataURL(t *testing.T) {
	cases := []struct {
		issuer, want string
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/.well-known/oauth-authorization-server"},
		{"https://auth.example.com/", "https://auth.example.com/.well-known/oauth-authorization-server"},
		{"https://auth.example.com/tenant", "https://auth.example.com/.well-known/oauth-authorization-server/tenant"},
		{"https://auth.example.com/a/b/", "https://auth.example.com/.well-known/oauth-authorization-server/a/b"},
		{"https://auth.example.com/a%2Fb", "https://auth.example.com/.well-known/oauth-authorization-server/a%2Fb"},
	}
	for _, tc := range cases {
		t.Run(tc.issuer, func(t *testing.T) {
			g := NewWithT(t)
			u, err := parseIssuer(tc.issuer)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(metadataURL(u)).To(Equal(tc.want))
		})
	}
}

func TestParseIssuerRejects(t *testing.T) {
	cases := map[string]string{
		"relative":          "/just/a/path",
		"other scheme":      "ftp://auth.example.com",
		"query":             "https://auth.example.com?tenant=a",
		"empty query":       "https://auth.example.com?",
		"fragment":          "https://auth.example.com#top",
		"http not loopback": "http://auth.example.com",
		"no host":           "https://",
	}
	for name, issuer := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := parseIssuer(issuer)
			g.Expect(err).To(MatchError(ContainSubstring("invalid --issuer")))
		})
	}
}

func TestParseIssuerLoopbackHTTP(t *testing.T) {
	for _, issuer := range []string{"http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:8080", "http://127.8.9.10"} {
		t.Run(issuer, func(t *testing.T) {
			g := NewWithT(t)
			_, err := parseIssuer(issuer)
			g.Expect(err).NotTo(HaveOccurred())
		})
	}
}

func TestParseLoginFlags(t *testing.T) {
	g := NewWithT(t)
	t.Setenv(clientSecretEnv, "from-env")

	opts, err := parseLoginFlags([]string{
		"--issuer", "http://127.0.0.1:8080", "--client-id", "cli", "--scopes", " read  write ",
	}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(opts.scopes).To(Equal([]string{"read", "write"}))
	g.Expect(opts.clientSecret).To(Equal("from-env"), "the secret falls back to the environment")
	g.Expect(opts.printToken).To(BeFalse())

	opts, err = parseLoginFlags([]string{
		"--issuer=http://127.0.0.1:8080", "--client-id=ci", "--client-secret=s3", "--print-token",
	}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(opts.clientSecret).To(Equal("s3"), "the flag wins over the environment")
	g.Expect(opts.printToken).To(BeTrue())

	_, err = parseLoginFlags([]string{"--client-id", "cli"}, nil)
	g.Expect(err).To(MatchError(ContainSubstring("--issuer and --client-id are required")))
}
