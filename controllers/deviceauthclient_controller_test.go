package controllers_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/config"
)

func TestClientAcceptedWithResolvedValues(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	create(t, newUsersSecret(ns))
	server := newServer(ns, "login")
	server.Spec.Defaults.Polling.IntervalSeconds = ptr.To[int32](10)
	create(t, server)
	deviceClient := newClient(ns, "cli", "login")
	deviceClient.Spec.DisplayName = "Example CLI"
	deviceClient.Spec.Scopes = []string{"openid", "profile"}
	deviceClient.Spec.UserCode.Charset = ptr.To(v1alpha1.UserCodeCharsetDigits)
	create(t, deviceClient)

	accepted := expectCondition(t, deviceClient, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	g.Expect(accepted.ObservedGeneration).To(Equal(deviceClient.Generation))
	expectCondition(t, deviceClient, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	status := deviceClient.Status
	g.Expect(status.ObservedGeneration).To(Equal(deviceClient.Generation))
	g.Expect(status.ClientID).To(Equal("cli"))
	g.Expect(status.SecretName).To(BeEmpty())
	g.Expect(status.Polling).To(Equal(&v1alpha1.ResolvedPolling{IntervalSeconds: 10, ExpiresInSeconds: 300}))
	g.Expect(status.UserCode).To(Equal(&v1alpha1.ResolvedUserCode{Charset: v1alpha1.UserCodeCharsetDigits, Length: 9}))
	g.Expect(status.Endpoints).To(Equal(&v1alpha1.ClientEndpoints{
		Issuer:              "http://127.0.0.1:8080",
		DeviceAuthorization: "http://127.0.0.1:8080/oauth2/device_authorization",
		Token:               "http://127.0.0.1:8080/oauth2/token",
		Verification:        "http://127.0.0.1:8080/device",
	}))
	g.Expect(findCondition(status.Conditions, v1alpha1.ConditionStalled)).To(BeNil())

	cfg, _ := renderedConfig(g, server)
	g.Expect(configClient(cfg, "cli")).To(Equal(&config.Client{
		ClientID:         "cli",
		DisplayName:      "Example CLI",
		Type:             config.ClientTypePublic,
		Scopes:           []string{"openid", "profile"},
		IntervalSeconds:  10,
		ExpiresInSeconds: 300,
		UserCodeCharset:  config.UserCodeDigits,
		UserCodeLength:   9,
	}))

	// A change of the server's defaults reaches the client's status and
	// the config.
	update(t, server, func() {
		server.Spec.Defaults.Polling.ExpiresInSeconds = ptr.To[int32](600)
	})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), key(deviceClient), deviceClient)).To(Succeed())
		g.Expect(deviceClient.Status.Polling).To(Equal(&v1alpha1.ResolvedPolling{IntervalSeconds: 10, ExpiresInSeconds: 600}))
		cfg, _ := renderedConfig(g, server)
		g.Expect(configClient(cfg, "cli").ExpiresInSeconds).To(Equal(int32(600)))
	}).Should(Succeed())
	expectCondition(t, deviceClient, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

func findCondition(conditions []metav1.Condition, conditionType string) *metav1.Condition {
	for i := range conditions {
		if conditions[i].Type == conditionType {
			return &conditions[i]
		}
	}
	return nil
}

func TestClientServerNotFoundThenCreated(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	deviceClient := newClient(ns, "cli", "login")
	create(t, deviceClient)

	notFound := expectCondition(t, deviceClient, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonServerNotFound)
	g.Expect(notFound.Message).To(ContainSubstring(ns + "/login"))
	expectCondition(t, deviceClient, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonServerNotFound)
	g.Expect(deviceClient.Status.ClientID).To(Equal("cli"))
	g.Expect(deviceClient.Status.Endpoints).To(BeNil())

	startServer(t, ns, "login")

	expectCondition(t, deviceClient, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	expectCondition(t, deviceClient, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Eventually(func(g Gomega) {
		g.Expect(eventReasons(g, ns, "DeviceAuthClient", "cli")).To(ContainElements(
			v1alpha1.ReasonServerNotFound, v1alpha1.ReasonAccepted, v1alpha1.ReasonReady))
	}).Should(Succeed())
}

func TestClientNamespaceAllowed(t *testing.T) {
	g := NewWithT(t)
	serverNamespace := newNamespace(t)
	clientNamespace := newNamespace(t)
	server := startServer(t, serverNamespace, "login")
	deviceClient := newClient(clientNamespace, "cli", "login")
	deviceClient.Spec.ServerRef.Namespace = serverNamespace
	create(t, deviceClient)

	rejected := expectCondition(t, deviceClient, v1alpha1.ConditionAccepted, metav1.ConditionFalse,
		v1alpha1.ReasonNamespaceNotAllowed)
	g.Expect(rejected.Message).To(ContainSubstring("allowedClientNamespaces: All"))
	g.Expect(findCondition(deviceClient.Status.Conditions, v1alpha1.ConditionStalled)).To(BeNil())

	update(t, server, func() {
		server.Spec.AllowedClientNamespaces = v1alpha1.AllowedClientNamespacesAll
	})

	expectCondition(t, deviceClient, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	expectCondition(t, deviceClient, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	expectServerClients(t, server, 1)
}

func TestClientIDConflictOlderWins(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	server := startServer(t, ns, "login")
	older := newClient(ns, "z-older", "login")
	older.Spec.ClientID = "cli"
	create(t, older)
	expectCondition(t, older, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)

	// Creation timestamps have whole seconds. Wait for the next second, so
	// that the newer client, which sorts first by name, is strictly newer.
	g.Eventually(func(g Gomega) {
		g.Expect(time.Now().Truncate(time.Second)).To(BeTemporally(">", older.CreationTimestamp.Time))
	}).Should(Succeed())
	newer := newClient(ns, "a-newer", "login")
	newer.Spec.ClientID = "cli"
	create(t, newer)
	g.Expect(newer.CreationTimestamp.After(older.CreationTimestamp.Time)).To(BeTrue())

	conflict := expectCondition(t, newer, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonClientIDConflict)
	g.Expect(conflict.Message).To(ContainSubstring(`"z-older"`))
	expectCondition(t, older, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	expectCondition(t, older, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	g.Expect(k8sClient.Delete(context.Background(), older)).To(Succeed())

	expectCondition(t, newer, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	expectCondition(t, newer, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	cfg, _ := renderedConfig(g, server)
	g.Expect(cfg.Clients).To(HaveLen(1))
}

func TestClientUserSecret(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	server := startServer(t, ns, "login")
	deviceClient := newClient(ns, "ci-bot", "login")
	deviceClient.Spec.ClientType = v1alpha1.ClientTypeConfidential
	deviceClient.Spec.SecretName = "ci-bot-credentials"
	create(t, deviceClient)

	notFound := expectCondition(t, deviceClient, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound)
	g.Expect(notFound.Message).To(ContainSubstring(`"ci-bot-credentials"`))
	g.Expect(deviceClient.Status.SecretName).To(Equal("ci-bot-credentials"))

	first := []byte("first-secret-value-0123456789abcdefghij")
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ci-bot-credentials"},
		Data:       map[string][]byte{"clientSecret": first},
	}
	create(t, secret)

	expectCondition(t, deviceClient, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	expectCondition(t, deviceClient, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	cfg, configSecret := renderedConfig(g, server)
	entry := configClient(cfg, "ci-bot")
	g.Expect(entry.Type).To(Equal(config.ClientTypeConfidential))
	g.Expect(entry.SecretSHA256).To(Equal(sha256Hex(first)))
	g.Expect(string(configSecret.Data[config.FileName])).NotTo(ContainSubstring(string(first)))

	// Rotating the Secret reaches the config without touching the pods.
	rotated := []byte("rotated-secret-value-abcdefghij0123456789")
	secret.Data["clientSecret"] = rotated
	g.Expect(k8sClient.Update(context.Background(), secret)).To(Succeed())
	g.Eventually(func(g Gomega) {
		cfg, configSecret := renderedConfig(g, server)
		g.Expect(configClient(cfg, "ci-bot").SecretSHA256).To(Equal(sha256Hex(rotated)))
		g.Expect(string(configSecret.Data[config.FileName])).NotTo(ContainSubstring(string(rotated)))
	}).Should(Succeed())
	expectCondition(t, deviceClient, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	// The user owns the Secret: the operator neither adopts nor changes it.
	g.Expect(k8sClient.Get(context.Background(), key(secret), secret)).To(Succeed())
	g.Expect(secret.OwnerReferences).To(BeEmpty())
	g.Expect(secret.Data["clientSecret"]).To(Equal(rotated))

	// A key emptied by mistake takes the client out of the config.
	secret.Data["clientSecret"] = nil
	g.Expect(k8sClient.Update(context.Background(), secret)).To(Succeed())
	expectCondition(t, deviceClient, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonInvalidSecret)
	g.Eventually(func(g Gomega) {
		cfg, _ := renderedConfig(g, server)
		g.Expect(configClient(cfg, "ci-bot")).To(BeNil())
	}).Should(Succeed())
}

var urlSafe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestClientGeneratedSecret(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	server := startServer(t, ns, "login")
	deviceClient := newClient(ns, "ci-bot", "login")
	deviceClient.Spec.ClientType = v1alpha1.ClientTypeConfidential
	create(t, deviceClient)

	expectCondition(t, deviceClient, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(deviceClient.Status.SecretName).To(Equal("ci-bot-client-secret"))

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ci-bot-client-secret"}}
	g.Expect(k8sClient.Get(context.Background(), key(secret), secret)).To(Succeed())
	value := secret.Data["clientSecret"]
	g.Expect(len(value)).To(BeNumerically(">=", 32))
	g.Expect(urlSafe.Match(value)).To(BeTrue(), "secret %d characters, not URL-safe", len(value))
	owner := metav1.GetControllerOf(secret)
	g.Expect(owner).NotTo(BeNil())
	g.Expect(owner.Kind).To(Equal("DeviceAuthClient"))
	g.Expect(owner.UID).To(Equal(deviceClient.UID))

	cfg, configSecret := renderedConfig(g, server)
	g.Expect(configClient(cfg, "ci-bot").SecretSHA256).To(Equal(sha256Hex(value)))
	g.Expect(string(configSecret.Data[config.FileName])).NotTo(ContainSubstring(string(value)))

	// A value changed by hand is kept, and the config follows it.
	changed := []byte(strings.Repeat("x", 40))
	secret.Data["clientSecret"] = changed
	g.Expect(k8sClient.Update(context.Background(), secret)).To(Succeed())
	g.Eventually(func(g Gomega) {
		cfg, _ := renderedConfig(g, server)
		g.Expect(configClient(cfg, "ci-bot").SecretSHA256).To(Equal(sha256Hex(changed)))
	}).Should(Succeed())
	update(t, deviceClient, func() {
		deviceClient.Spec.DisplayName = "CI bot"
	})
	g.Eventually(func(g Gomega) {
		cfg, _ := renderedConfig(g, server)
		g.Expect(configClient(cfg, "ci-bot").DisplayName).To(Equal("CI bot"))
	}).Should(Succeed())
	g.Expect(k8sClient.Get(context.Background(), key(secret), secret)).To(Succeed())
	g.Expect(secret.Data["clientSecret"]).To(Equal(changed))
}

func TestClientInvalidCombinationStalls(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	create(t, newUsersSecret(ns))
	server := newServer(ns, "login")
	server.Spec.Defaults.Polling.ExpiresInSeconds = ptr.To[int32](8)
	create(t, server)
	deviceClient := newClient(ns, "cli", "login")
	deviceClient.Spec.Polling.IntervalSeconds = ptr.To[int32](10)
	create(t, deviceClient)

	invalid := expectCondition(t, deviceClient, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec)
	g.Expect(invalid.Message).To(ContainSubstring("expiresInSeconds 8 (from the server's spec.defaults.polling.expiresInSeconds)"))
	expectCondition(t, deviceClient, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonInvalidSpec)
	g.Expect(deviceClient.Status.Polling).To(Equal(&v1alpha1.ResolvedPolling{IntervalSeconds: 10, ExpiresInSeconds: 8}))

	// Fixing the server's defaults fixes the client.
	update(t, server, func() {
		server.Spec.Defaults.Polling.ExpiresInSeconds = nil
	})
	expectCondition(t, deviceClient, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(findCondition(deviceClient.Status.Conditions, v1alpha1.ConditionStalled)).To(BeNil())
}
