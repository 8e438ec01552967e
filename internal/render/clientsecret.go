package render

import (
	"crypto/rand"
	"encoding/base64"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
)

// clientSecretBytes is the entropy of a generated client secret: 256 bits,
// 43 characters once base64url encoded.
const clientSecretBytes = 32

// ClientAppName is the app.kubernetes.io/name of generated client Secrets.
const ClientAppName = "deviceauth-client"

// GenerateClientSecret draws a new client secret from crypto/rand, encoded
// as unpadded base64url so that it is safe in URLs, forms and shells. It is
// the only function in this package that is not deterministic.
func GenerateClientSecret() []byte {
	raw := make([]byte, clientSecretBytes)
	// Since Go 1.24, crypto/rand.Read never returns an error: it crashes
	// the program when the system's random source fails.
	_, _ = rand.Read(raw)
	encoded := make([]byte, base64.RawURLEncoding.EncodedLen(len(raw)))
	base64.RawURLEncoding.Encode(encoded, raw)
	return encoded
}

// GeneratedClientSecret returns the Secret the operator generates for a
// Confidential client without spec.secretName, holding secret under
// ClientSecretKey. The operator creates it once and never overwrites it.
func GeneratedClientSecret(client *v1alpha1.DeviceAuthClient, secret []byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      GeneratedClientSecretName(client),
			Namespace: client.Namespace,
			Labels: map[string]string{
				LabelName:      ClientAppName,
				LabelInstance:  client.Name,
				LabelManagedBy: ManagedBy,
			},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{ClientSecretKey: secret},
	}
}
