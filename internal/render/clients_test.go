package render

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/config"
)

var baseTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testServer() *v1alpha1.DeviceAuthServer {
	return &v1alpha1.DeviceAuthServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "auth", Name: "login"},
		Spec: v1alpha1.DeviceAuthServerSpec{
			IssuerURL: "https://login.example.com",
			Replicas:  ptr.To[int32](1),
			Storage:   v1alpha1.StorageSpec{Type: v1alpha1.StorageTypeMemory},
			UserAuthentication: v1alpha1.UserAuthenticationSpec{
				Static: &v1alpha1.StaticUserAuthentication{SecretName: "users"},
			},
			AllowedClientNamespaces: v1alpha1.AllowedClientNamespacesSame,
			Tokens:                  v1alpha1.TokenSpec{AccessTokenLifetimeSeconds: 600},
		},
	}
}

// testClient returns a Public client of testServer created ageSeconds after
// baseTime.
func testClient(namespace, name string, ageSeconds int) v1alpha1.DeviceAuthClient {
	return v1alpha1.DeviceAuthClient{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         namespace,
			Name:              name,
			CreationTimestamp: metav1.NewTime(baseTime.Add(time.Duration(ageSeconds) * time.Second)),
		},
		Spec: v1alpha1.DeviceAuthClientSpec{
			ServerRef:  v1alpha1.ServerReference{Name: "login", Namespace: "auth"},
			ClientType: v1alpha1.ClientTypePublic,
		},
	}
}

func secretWith(namespace, name string, data map[string][]byte) map[types.NamespacedName]*corev1.Secret {
	return map[types.NamespacedName]*corev1.Secret{
		{Namespace: namespace, Name: name}: {
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Data:       data,
		},
	}
}

// verdictFor returns the verdict of the named client, failing the test when
// there is none.
func verdictFor(t *testing.T, verdicts []ClientVerdict, namespace, name string) ClientVerdict {
	t.Helper()
	for _, v := range verdicts {
		if v.Client == (types.NamespacedName{Namespace: namespace, Name: name}) {
			return v
		}
	}
	t.Fatalf("no verdict for client %s/%s in %d verdicts", namespace, name, len(verdicts))
	return ClientVerdict{}
}

func TestResolveClientsLayersDefaults(t *testing.T) {
	digits := v1alpha1.UserCodeCharsetDigits
	letters := v1alpha1.UserCodeCharsetLetters

	tests := []struct {
		name          string
		serverPolling v1alpha1.PollingPolicy
		serverCode    v1alpha1.UserCodePolicy
		clientPolling v1alpha1.PollingPolicy
		clientCode    v1alpha1.UserCodePolicy
		wantPolling   v1alpha1.ResolvedPolling
		wantCode      v1alpha1.ResolvedUserCode
	}{
		{
			name:        "built-in defaults",
			wantPolling: v1alpha1.ResolvedPolling{IntervalSeconds: 5, ExpiresInSeconds: 300},
			wantCode:    v1alpha1.ResolvedUserCode{Charset: letters, Length: 8},
		},
		{
			name:          "server defaults",
			serverPolling: v1alpha1.PollingPolicy{IntervalSeconds: ptr.To[int32](7), ExpiresInSeconds: ptr.To[int32](600)},
			serverCode:    v1alpha1.UserCodePolicy{Charset: &letters, Length: ptr.To[int32](10)},
			wantPolling:   v1alpha1.ResolvedPolling{IntervalSeconds: 7, ExpiresInSeconds: 600},
			wantCode:      v1alpha1.ResolvedUserCode{Charset: letters, Length: 10},
		},
		{
			name:          "client over server field by field",
			serverPolling: v1alpha1.PollingPolicy{IntervalSeconds: ptr.To[int32](7), ExpiresInSeconds: ptr.To[int32](600)},
			serverCode:    v1alpha1.UserCodePolicy{Length: ptr.To[int32](12)},
			clientPolling: v1alpha1.PollingPolicy{IntervalSeconds: ptr.To[int32](2)},
			clientCode:    v1alpha1.UserCodePolicy{Charset: &digits},
			wantPolling:   v1alpha1.ResolvedPolling{IntervalSeconds: 2, ExpiresInSeconds: 600},
			wantCode:      v1alpha1.ResolvedUserCode{Charset: digits, Length: 12},
		},
		{
			name:        "digits default length",
			clientCode:  v1alpha1.UserCodePolicy{Charset: &digits},
			wantPolling: v1alpha1.ResolvedPolling{IntervalSeconds: 5, ExpiresInSeconds: 300},
			wantCode:    v1alpha1.ResolvedUserCode{Charset: digits, Length: 9},
		},
		{
			name:        "digits from server defaults",
			serverCode:  v1alpha1.UserCodePolicy{Charset: &digits},
			wantPolling: v1alpha1.ResolvedPolling{IntervalSeconds: 5, ExpiresInSeconds: 300},
			wantCode:    v1alpha1.ResolvedUserCode{Charset: digits, Length: 9},
		},
		{
			name:          "client interval with built-in lifetime",
			clientPolling: v1alpha1.PollingPolicy{IntervalSeconds: ptr.To[int32](299)},
			wantPolling:   v1alpha1.ResolvedPolling{IntervalSeconds: 299, ExpiresInSeconds: 300},
			wantCode:      v1alpha1.ResolvedUserCode{Charset: letters, Length: 8},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			server := testServer()
			server.Spec.Defaults = v1alpha1.ClientDefaults{Polling: tt.serverPolling, UserCode: tt.serverCode}
			client := testClient("auth", "cli", 0)
			client.Spec.Polling = tt.clientPolling
			client.Spec.UserCode = tt.clientCode

			verdicts := ResolveClients(server, []v1alpha1.DeviceAuthClient{client}, nil)

			g.Expect(verdicts).To(HaveLen(1))
			v := verdicts[0]
			g.Expect(v.Accepted).To(BeTrue(), v.Message)
			g.Expect(v.Reason).To(Equal(v1alpha1.ReasonAccepted))
			g.Expect(*v.Polling).To(Equal(tt.wantPolling))
			g.Expect(*v.UserCode).To(Equal(tt.wantCode))
			g.Expect(v.Config.IntervalSeconds).To(Equal(tt.wantPolling.IntervalSeconds))
			g.Expect(v.Config.ExpiresInSeconds).To(Equal(tt.wantPolling.ExpiresInSeconds))
			g.Expect(v.Config.UserCodeLength).To(Equal(tt.wantCode.Length))
			g.Expect(string(v.Config.UserCodeCharset)).To(Equal(strings.ToLower(string(tt.wantCode.Charset))))
		})
	}
}

func TestResolveClientsInvalidCombinations(t *testing.T) {
	digits := v1alpha1.UserCodeCharsetDigits

	tests := []struct {
		name          string
		serverPolling v1alpha1.PollingPolicy
		serverCode    v1alpha1.UserCodePolicy
		clientPolling v1alpha1.PollingPolicy
		clientCode    v1alpha1.UserCodePolicy
		wantMessage   []string
	}{
		{
			name:          "server lifetime below client interval",
			serverPolling: v1alpha1.PollingPolicy{ExpiresInSeconds: ptr.To[int32](5)},
			clientPolling: v1alpha1.PollingPolicy{IntervalSeconds: ptr.To[int32](10)},
			wantMessage: []string{
				"expiresInSeconds 5 (from the server's spec.defaults.polling.expiresInSeconds)",
				"intervalSeconds 10 (from spec.polling.intervalSeconds)",
			},
		},
		{
			name:          "client interval equals built-in lifetime",
			clientPolling: v1alpha1.PollingPolicy{IntervalSeconds: ptr.To[int32](300)},
			wantMessage:   []string{"expiresInSeconds 300 (from the built-in default) must be greater than intervalSeconds 300"},
		},
		{
			name:        "server length too short for client digits",
			serverCode:  v1alpha1.UserCodePolicy{Length: ptr.To[int32](8)},
			clientCode:  v1alpha1.UserCodePolicy{Charset: &digits},
			wantMessage: []string{"userCode.length 8 (from the server's spec.defaults.userCode.length) is too short for the Digits charset (from spec.userCode.charset)", "at least 9"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			server := testServer()
			server.Spec.Defaults = v1alpha1.ClientDefaults{Polling: tt.serverPolling, UserCode: tt.serverCode}
			client := testClient("auth", "cli", 0)
			client.Spec.Polling = tt.clientPolling
			client.Spec.UserCode = tt.clientCode

			v := ResolveClients(server, []v1alpha1.DeviceAuthClient{client}, nil)[0]

			g.Expect(v.Accepted).To(BeFalse())
			g.Expect(v.Reason).To(Equal(v1alpha1.ReasonInvalidSpec))
			g.Expect(v.Stalled).To(BeTrue())
			for _, part := range tt.wantMessage {
				g.Expect(v.Message).To(ContainSubstring(part))
			}
			g.Expect(v.Config).To(BeZero())
		})
	}
}

func TestResolveClientsNamespaces(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	same := testClient("auth", "same", 0)
	other := testClient("team-a", "other", 0)
	clients := []v1alpha1.DeviceAuthClient{same, other}

	verdicts := ResolveClients(server, clients, nil)
	g.Expect(verdictFor(t, verdicts, "auth", "same").Accepted).To(BeTrue())
	rejected := verdictFor(t, verdicts, "team-a", "other")
	g.Expect(rejected.Accepted).To(BeFalse())
	g.Expect(rejected.Reason).To(Equal(v1alpha1.ReasonNamespaceNotAllowed))
	g.Expect(rejected.Stalled).To(BeFalse())
	g.Expect(rejected.Message).To(ContainSubstring("allowedClientNamespaces: All"))
	g.Expect(rejected.Polling).To(BeNil())
	g.Expect(rejected.Endpoints).To(BeNil())

	server.Spec.AllowedClientNamespaces = v1alpha1.AllowedClientNamespacesAll
	verdicts = ResolveClients(server, clients, nil)
	g.Expect(verdictFor(t, verdicts, "auth", "same").Accepted).To(BeTrue())
	g.Expect(verdictFor(t, verdicts, "team-a", "other").Accepted).To(BeTrue())
}

func TestResolveClientsIgnoresOtherServersAndDeleted(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	otherServer := testClient("auth", "other-server", 0)
	otherServer.Spec.ServerRef.Name = "another"
	deleted := testClient("auth", "deleted", 0)
	deleted.DeletionTimestamp = ptr.To(metav1.NewTime(baseTime))
	// A client that leaves serverRef.namespace unset references a server in
	// its own namespace.
	implicit := testClient("auth", "implicit", 0)
	implicit.Spec.ServerRef.Namespace = ""

	verdicts := ResolveClients(server, []v1alpha1.DeviceAuthClient{otherServer, deleted, implicit}, nil)

	g.Expect(verdicts).To(HaveLen(1))
	g.Expect(verdicts[0].Client.Name).To(Equal("implicit"))
	g.Expect(verdicts[0].Accepted).To(BeTrue())
}

func TestResolveClientsClientIDConflict(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	server.Spec.AllowedClientNamespaces = v1alpha1.AllowedClientNamespacesAll

	// "z-older" sorts last by name but is the oldest, so it keeps the ID.
	older := testClient("auth", "z-older", 0)
	older.Spec.ClientID = "cli"
	newer := testClient("auth", "a-newer", 10)
	newer.Spec.ClientID = "cli"
	foreign := testClient("team-a", "foreign", 20)
	foreign.Spec.ClientID = "cli"

	verdicts := ResolveClients(server, []v1alpha1.DeviceAuthClient{newer, foreign, older}, nil)

	g.Expect(verdictFor(t, verdicts, "auth", "z-older").Accepted).To(BeTrue())
	lost := verdictFor(t, verdicts, "auth", "a-newer")
	g.Expect(lost.Accepted).To(BeFalse())
	g.Expect(lost.Reason).To(Equal(v1alpha1.ReasonClientIDConflict))
	g.Expect(lost.Message).To(ContainSubstring(`the older DeviceAuthClient "z-older"`))
	g.Expect(lost.Polling).NotTo(BeNil())
	crossNamespace := verdictFor(t, verdicts, "team-a", "foreign")
	g.Expect(crossNamespace.Reason).To(Equal(v1alpha1.ReasonClientIDConflict))
	g.Expect(crossNamespace.Message).To(ContainSubstring("in another namespace"))
	g.Expect(crossNamespace.Message).NotTo(ContainSubstring("z-older"))

	// Once the older client is gone, the next oldest takes the ID.
	verdicts = ResolveClients(server, []v1alpha1.DeviceAuthClient{newer, foreign}, nil)
	g.Expect(verdictFor(t, verdicts, "auth", "a-newer").Accepted).To(BeTrue())
	g.Expect(verdictFor(t, verdicts, "team-a", "foreign").Reason).To(Equal(v1alpha1.ReasonClientIDConflict))
}

func TestResolveClientsConflictTieBreak(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	server.Spec.AllowedClientNamespaces = v1alpha1.AllowedClientNamespacesAll
	// metadata.name is the clientID of both.
	first := testClient("auth", "cli", 0)
	second := testClient("team-a", "cli", 0)

	verdicts := ResolveClients(server, []v1alpha1.DeviceAuthClient{second, first}, nil)

	g.Expect(verdictFor(t, verdicts, "auth", "cli").Accepted).To(BeTrue())
	g.Expect(verdictFor(t, verdicts, "team-a", "cli").Reason).To(Equal(v1alpha1.ReasonClientIDConflict))
}

func TestResolveClientsConflictClaims(t *testing.T) {
	g := NewWithT(t)
	server := testServer()

	// A client from a namespace the server does not allow claims no ID.
	outsider := testClient("team-a", "cli", 0)
	// A client whose secret is missing keeps its claim.
	waiting := testClient("auth", "bot", 0)
	waiting.Spec.ClientType = v1alpha1.ClientTypeConfidential
	waiting.Spec.SecretName = "bot-secret"
	insider := testClient("auth", "cli", 10)
	botTwin := testClient("auth", "bot-twin", 10)
	botTwin.Spec.ClientID = "bot"

	verdicts := ResolveClients(server, []v1alpha1.DeviceAuthClient{outsider, waiting, insider, botTwin}, nil)

	g.Expect(verdictFor(t, verdicts, "team-a", "cli").Reason).To(Equal(v1alpha1.ReasonNamespaceNotAllowed))
	g.Expect(verdictFor(t, verdicts, "auth", "cli").Accepted).To(BeTrue())
	g.Expect(verdictFor(t, verdicts, "auth", "bot").Reason).To(Equal(v1alpha1.ReasonSecretNotFound))
	g.Expect(verdictFor(t, verdicts, "auth", "bot-twin").Reason).To(Equal(v1alpha1.ReasonClientIDConflict))
}

func TestResolveClientsSecrets(t *testing.T) {
	secret := []byte("s3cr3t-value-with-enough-entropy-0123456789")
	sum := sha256.Sum256(secret)
	wantHash := hex.EncodeToString(sum[:])

	tests := []struct {
		name        string
		secretName  string
		secrets     map[types.NamespacedName]*corev1.Secret
		wantReason  string
		wantMessage string
		wantSecret  string
	}{
		{
			name:        "generated not yet created",
			wantReason:  v1alpha1.ReasonSecretNotFound,
			wantMessage: `waiting for the operator to generate Secret "bot-client-secret"`,
			wantSecret:  "bot-client-secret",
		},
		{
			name:       "generated present",
			secrets:    secretWith("auth", "bot-client-secret", map[string][]byte{"clientSecret": secret}),
			wantReason: v1alpha1.ReasonAccepted,
			wantSecret: "bot-client-secret",
		},
		{
			name:        "user secret missing",
			secretName:  "bot-creds",
			wantReason:  v1alpha1.ReasonSecretNotFound,
			wantMessage: `Secret "bot-creds" not found in namespace "auth"`,
			wantSecret:  "bot-creds",
		},
		{
			name:        "user secret in another namespace",
			secretName:  "bot-creds",
			secrets:     secretWith("elsewhere", "bot-creds", map[string][]byte{"clientSecret": secret}),
			wantReason:  v1alpha1.ReasonSecretNotFound,
			wantMessage: `Secret "bot-creds" not found`,
			wantSecret:  "bot-creds",
		},
		{
			name:        "user secret without key",
			secretName:  "bot-creds",
			secrets:     secretWith("auth", "bot-creds", map[string][]byte{"password": secret}),
			wantReason:  v1alpha1.ReasonInvalidSecret,
			wantMessage: `has no key "clientSecret"`,
			wantSecret:  "bot-creds",
		},
		{
			name:        "user secret with empty key",
			secretName:  "bot-creds",
			secrets:     secretWith("auth", "bot-creds", map[string][]byte{"clientSecret": {}}),
			wantReason:  v1alpha1.ReasonInvalidSecret,
			wantMessage: "empty",
			wantSecret:  "bot-creds",
		},
		{
			name:       "user secret present",
			secretName: "bot-creds",
			secrets:    secretWith("auth", "bot-creds", map[string][]byte{"clientSecret": secret}),
			wantReason: v1alpha1.ReasonAccepted,
			wantSecret: "bot-creds",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			client := testClient("auth", "bot", 0)
			client.Spec.ClientType = v1alpha1.ClientTypeConfidential
			client.Spec.SecretName = tt.secretName

			v := ResolveClients(testServer(), []v1alpha1.DeviceAuthClient{client}, tt.secrets)[0]

			g.Expect(v.Reason).To(Equal(tt.wantReason))
			g.Expect(v.Message).To(ContainSubstring(tt.wantMessage))
			g.Expect(v.SecretName).To(Equal(tt.wantSecret))
			g.Expect(v.Stalled).To(BeFalse())
			g.Expect(v.Message).NotTo(ContainSubstring(string(secret)))
			if tt.wantReason != v1alpha1.ReasonAccepted {
				g.Expect(v.Accepted).To(BeFalse())
				return
			}
			g.Expect(v.Accepted).To(BeTrue())
			g.Expect(v.Config.Type).To(Equal(config.ClientTypeConfidential))
			g.Expect(v.Config.SecretSHA256).To(Equal(wantHash))
		})
	}
}

func TestResolveClientsPublicEntry(t *testing.T) {
	g := NewWithT(t)
	client := testClient("auth", "cli", 0)
	client.Spec.DisplayName = "Example CLI"
	client.Spec.Scopes = []string{"profile", "openid", "profile"}

	v := ResolveClients(testServer(), []v1alpha1.DeviceAuthClient{client}, nil)[0]

	g.Expect(v.ClientID).To(Equal("cli"))
	g.Expect(v.SecretName).To(BeEmpty())
	g.Expect(v.Config).To(Equal(config.Client{
		ClientID:         "cli",
		DisplayName:      "Example CLI",
		Type:             config.ClientTypePublic,
		Scopes:           []string{"openid", "profile"},
		IntervalSeconds:  5,
		ExpiresInSeconds: 300,
		UserCodeCharset:  config.UserCodeLetters,
		UserCodeLength:   8,
	}))
	g.Expect(*v.Endpoints).To(Equal(v1alpha1.ClientEndpoints{
		Issuer:              "https://login.example.com",
		DeviceAuthorization: "https://login.example.com/oauth2/device_authorization",
		Token:               "https://login.example.com/oauth2/token",
		Verification:        "https://login.example.com/device",
	}))
	g.Expect(client.Spec.Scopes).To(Equal([]string{"profile", "openid", "profile"}), "input scopes must not be reordered")
}

func TestResolveClientsEndpointsKeepIssuerPath(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	server.Spec.IssuerURL = "https://example.com/auth"

	v := ResolveClients(server, []v1alpha1.DeviceAuthClient{testClient("auth", "cli", 0)}, nil)[0]

	g.Expect(v.Endpoints.DeviceAuthorization).To(Equal("https://example.com/auth/oauth2/device_authorization"))
	g.Expect(v.Endpoints.Verification).To(Equal("https://example.com/auth/device"))
}

func TestResolveClientsLongNameClientID(t *testing.T) {
	g := NewWithT(t)
	client := testClient("auth", strings.Repeat("a", MaxClientIDLength+1), 0)

	v := ResolveClients(testServer(), []v1alpha1.DeviceAuthClient{client}, nil)[0]

	g.Expect(v.Reason).To(Equal(v1alpha1.ReasonInvalidSpec))
	g.Expect(v.Stalled).To(BeTrue())
	g.Expect(v.Message).To(ContainSubstring("set a shorter spec.clientID"))
}

func TestResolveClientsSortsByNamespaceName(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	server.Spec.AllowedClientNamespaces = v1alpha1.AllowedClientNamespacesAll
	clients := []v1alpha1.DeviceAuthClient{
		testClient("b", "x", 0), testClient("a", "y", 3), testClient("a", "x", 2),
	}

	verdicts := ResolveClients(server, clients, nil)

	var order []string
	for _, v := range verdicts {
		order = append(order, v.Client.String())
	}
	g.Expect(order).To(Equal([]string{"a/x", "a/y", "b/x"}))
}

func TestServerNotFoundVerdict(t *testing.T) {
	g := NewWithT(t)
	client := testClient("team-a", "cli", 0)
	client.Spec.ServerRef = v1alpha1.ServerReference{Name: "missing"}

	v := ServerNotFoundVerdict(&client)

	g.Expect(v.Accepted).To(BeFalse())
	g.Expect(v.Reason).To(Equal(v1alpha1.ReasonServerNotFound))
	g.Expect(v.Message).To(ContainSubstring("team-a/missing"))
	g.Expect(v.ClientID).To(Equal("cli"))
	g.Expect(v.Polling).To(BeNil())
}
