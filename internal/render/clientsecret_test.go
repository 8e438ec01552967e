package render

import (
	"regexp"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

func TestGenerateClientSecret(t *testing.T) {
	g := NewWithT(t)

	first, second := GenerateClientSecret(), GenerateClientSecret()

	g.Expect(first).To(HaveLen(43))
	g.Expect(regexp.MustCompile(`^[A-Za-z0-9_-]+$`).Match(first)).To(BeTrue(), "not URL-safe: %d bytes", len(first))
	g.Expect(first).NotTo(Equal(second))
}

func TestGeneratedClientSecretObject(t *testing.T) {
	g := NewWithT(t)
	client := testClient("auth", "ci-bot", 0)

	secret := GeneratedClientSecret(&client, []byte("value"))

	g.Expect(secret.Name).To(Equal("ci-bot-client-secret"))
	g.Expect(secret.Namespace).To(Equal("auth"))
	g.Expect(secret.Type).To(Equal(corev1.SecretTypeOpaque))
	g.Expect(secret.Data).To(Equal(map[string][]byte{"clientSecret": []byte("value")}))
	g.Expect(secret.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "deviceauth-operator"))
}
