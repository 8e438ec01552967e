package controllers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
)

// expectRejected checks that the API server rejects err's request as
// invalid, with a message containing want.
func expectRejected(g Gomega, err error, want string) {
	g.Expect(err).To(HaveOccurred())
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "not an Invalid error: %v", err)
	g.Expect(err.Error()).To(ContainSubstring(want))
}

func TestServerSchemaRejections(t *testing.T) {
	ns := newNamespace(t)
	tests := []struct {
		name   string
		modify func(*v1alpha1.DeviceAuthServer)
		want   string
	}{
		{
			name:   "http issuer off loopback",
			modify: func(s *v1alpha1.DeviceAuthServer) { s.Spec.IssuerURL = "http://login.example.com" },
			want:   "issuerURL must start with https:// (in lower case); http:// is allowed only on loopback addresses",
		},
		{
			name:   "http issuer on a name that starts with 127",
			modify: func(s *v1alpha1.DeviceAuthServer) { s.Spec.IssuerURL = "http://127.example.com" },
			want:   "issuerURL must start with https://",
		},
		{
			name:   "issuer with trailing slash",
			modify: func(s *v1alpha1.DeviceAuthServer) { s.Spec.IssuerURL = "https://login.example.com/" },
			want:   "issuerURL must not end with a slash",
		},
		{
			name:   "issuer with query",
			modify: func(s *v1alpha1.DeviceAuthServer) { s.Spec.IssuerURL = "https://login.example.com?x=1" },
			want:   "issuerURL must not contain a query (?) or fragment (#)",
		},
		{
			name:   "issuer not a URL",
			modify: func(s *v1alpha1.DeviceAuthServer) { s.Spec.IssuerURL = "login.example.com" },
			want:   "issuerURL must be an absolute URL",
		},
		{
			name:   "issuer with upper-case scheme",
			modify: func(s *v1alpha1.DeviceAuthServer) { s.Spec.IssuerURL = "HTTPS://login.example.com" },
			want:   "issuerURL must start with https:// (in lower case)",
		},
		{
			name:   "issuer with fragment",
			modify: func(s *v1alpha1.DeviceAuthServer) { s.Spec.IssuerURL = "https://login.example.com#top" },
			want:   "issuerURL must not contain a query (?) or fragment (#)",
		},
		{
			name:   "issuer with user information",
			modify: func(s *v1alpha1.DeviceAuthServer) { s.Spec.IssuerURL = "https://user:pw@login.example.com" },
			want:   "issuerURL must not contain user information",
		},
		{
			name:   "memory store with two replicas",
			modify: func(s *v1alpha1.DeviceAuthServer) { s.Spec.Replicas = ptr.To[int32](2) },
			want:   "storage.type Memory keeps authorizations in one process: set replicas to 0 or 1",
		},
		{
			name: "default lifetime not above default interval",
			modify: func(s *v1alpha1.DeviceAuthServer) {
				s.Spec.Defaults.Polling = v1alpha1.PollingPolicy{
					IntervalSeconds: ptr.To[int32](10), ExpiresInSeconds: ptr.To[int32](10),
				}
			},
			want: "polling.expiresInSeconds must be greater than polling.intervalSeconds",
		},
		{
			name: "default digits of length 8",
			modify: func(s *v1alpha1.DeviceAuthServer) {
				s.Spec.Defaults.UserCode = v1alpha1.UserCodePolicy{
					Charset: ptr.To(v1alpha1.UserCodeCharsetDigits), Length: ptr.To[int32](8),
				}
			},
			want: "userCode.length must be at least 9 for the Digits charset",
		},
		{
			name:   "no user authentication",
			modify: func(s *v1alpha1.DeviceAuthServer) { s.Spec.UserAuthentication.Static = nil },
			want:   "userAuthentication.static must be set",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := newServer(ns, "invalid-"+string(rune('a'+i)))
			tt.modify(server)
			err := k8sClient.Create(context.Background(), server)
			expectRejected(NewWithT(t), err, tt.want)
			if strings.HasPrefix(tt.name, "issuer with") {
				NewWithT(t).Expect(err.Error()).NotTo(ContainSubstring("must be an absolute URL"),
					"a valid URL with one flaw gets only that flaw's message")
			}
		})
	}
}

func TestServerSchemaAcceptsLoopbackHTTP(t *testing.T) {
	ns := newNamespace(t)
	for i, issuer := range []string{
		"http://127.0.0.1:8080", "http://127.0.0.2", "http://[::1]:8080", "http://localhost:8080",
		"https://login.example.com/tenant-a",
	} {
		t.Run(issuer, func(t *testing.T) {
			server := newServer(ns, "loopback-"+string(rune('a'+i)))
			server.Spec.IssuerURL = issuer
			NewWithT(t).Expect(k8sClient.Create(context.Background(), server)).To(Succeed())
		})
	}
}

func TestServerSchemaDefaults(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	server := newServer(ns, "defaults")
	create(t, server)

	g.Expect(server.Spec.Storage.Type).To(Equal(v1alpha1.StorageTypeMemory))
	g.Expect(server.Spec.AllowedClientNamespaces).To(Equal(v1alpha1.AllowedClientNamespacesSame))
	g.Expect(server.Spec.Tokens.AccessTokenLifetimeSeconds).To(Equal(int32(3600)))
	g.Expect(server.Spec.Image).To(BeEmpty(), "the image default comes from the operator, not the schema")
}

func TestClientSchemaRejections(t *testing.T) {
	ns := newNamespace(t)
	tests := []struct {
		name   string
		modify func(*v1alpha1.DeviceAuthClient)
		want   string
	}{
		{
			name: "lifetime not above interval",
			modify: func(c *v1alpha1.DeviceAuthClient) {
				c.Spec.Polling = v1alpha1.PollingPolicy{IntervalSeconds: ptr.To[int32](30), ExpiresInSeconds: ptr.To[int32](30)}
			},
			want: "polling.expiresInSeconds must be greater than polling.intervalSeconds",
		},
		{
			name: "digits of length 8",
			modify: func(c *v1alpha1.DeviceAuthClient) {
				c.Spec.UserCode = v1alpha1.UserCodePolicy{
					Charset: ptr.To(v1alpha1.UserCodeCharsetDigits), Length: ptr.To[int32](8),
				}
			},
			want: "userCode.length must be at least 9 for the Digits charset",
		},
		{
			name:   "letters of length 7",
			modify: func(c *v1alpha1.DeviceAuthClient) { c.Spec.UserCode.Length = ptr.To[int32](7) },
			want:   "spec.userCode.length",
		},
		{
			name:   "secretName on a public client",
			modify: func(c *v1alpha1.DeviceAuthClient) { c.Spec.SecretName = "creds" },
			want:   "secretName is only for clientType Confidential",
		},
		{
			name:   "interval of zero",
			modify: func(c *v1alpha1.DeviceAuthClient) { c.Spec.Polling.IntervalSeconds = ptr.To[int32](0) },
			want:   "spec.polling.intervalSeconds",
		},
		{
			name:   "clientID with a space",
			modify: func(c *v1alpha1.DeviceAuthClient) { c.Spec.ClientID = "my client" },
			want:   "spec.clientID",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deviceClient := newClient(ns, "invalid-"+string(rune('a'+i)), "login")
			tt.modify(deviceClient)
			expectRejected(NewWithT(t), k8sClient.Create(context.Background(), deviceClient), tt.want)
		})
	}
}

func TestClientIDImmutable(t *testing.T) {
	ns := newNamespace(t)
	tests := []struct {
		name     string
		original string
		updated  string
		want     string
	}{
		{name: "changed", original: "cli", updated: "other", want: "clientID is immutable"},
		{name: "removed", original: "cli", updated: "", want: "clientID cannot be added or removed after creation"},
		{name: "added", original: "", updated: "cli", want: "clientID cannot be added or removed after creation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			deviceClient := newClient(ns, "immutable-"+tt.name, "login")
			deviceClient.Spec.ClientID = tt.original
			create(t, deviceClient)

			// Merge patches carry no resourceVersion, so that status writes
			// of the running reconciler cannot make them conflict.
			original := deviceClient.DeepCopy()
			deviceClient.Spec.ClientID = tt.updated
			err := k8sClient.Patch(context.Background(), deviceClient, client.MergeFrom(original))
			expectRejected(g, err, tt.want)

			// Other fields stay mutable.
			renamed := original.DeepCopy()
			renamed.Spec.DisplayName = "renamed"
			g.Expect(k8sClient.Patch(context.Background(), renamed, client.MergeFrom(original))).To(Succeed())
		})
	}
}

func TestPrinterColumns(t *testing.T) {
	tests := []struct {
		crd  string
		want []string
	}{
		{crd: "deviceauthservers.deviceauth.dev", want: []string{"Issuer", "Clients", "Available", "Ready", "Reason", "Age"}},
		{crd: "deviceauthclients.deviceauth.dev", want: []string{"Client ID", "Server", "Type", "Interval", "Ready", "Reason", "Age"}},
	}
	for _, tt := range tests {
		t.Run(tt.crd, func(t *testing.T) {
			g := NewWithT(t)
			crd := &apiextensionsv1.CustomResourceDefinition{}
			g.Expect(k8sClient.Get(context.Background(), types.NamespacedName{Name: tt.crd}, crd)).To(Succeed())
			g.Expect(crd.Spec.Versions).To(HaveLen(1))
			var names []string
			for _, column := range crd.Spec.Versions[0].AdditionalPrinterColumns {
				names = append(names, column.Name)
			}
			g.Expect(names).To(Equal(tt.want))
			g.Expect(crd.Spec.Versions[0].Subresources.Status).NotTo(BeNil())
			g.Expect(crd.Spec.Names.Categories).To(ContainElement("deviceauth"))
		})
	}
}

// TestSamplesApply creates every object in config/samples, as
// `kubectl apply -f config/samples/` would, and waits for the sample
// clients to be ready.
func TestSamplesApply(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).NotTo(BeEmpty())

	var clients []client.Object
	for _, file := range files {
		g.Expect(filepath.Base(file)).NotTo(Equal("kustomization.yaml"),
			"kubectl apply -f DIR would send kustomization.yaml to the API server")
		data, err := os.ReadFile(file)
		g.Expect(err).NotTo(HaveOccurred())
		decoder := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := decoder.Decode(&obj.Object); err != nil {
				g.Expect(err.Error()).To(Equal("EOF"), file)
				break
			}
			if len(obj.Object) == 0 {
				continue
			}
			g.Expect(obj.GetNamespace()).To(BeEmpty(), "%s: samples take the namespace of the kubectl context", file)
			obj.SetNamespace(ns)
			g.Expect(k8sClient.Create(context.Background(), obj)).To(Succeed(), "%s: %s %s", file, obj.GetKind(), obj.GetName())
			if obj.GetKind() == "DeviceAuthClient" {
				clients = append(clients, &v1alpha1.DeviceAuthClient{ObjectMeta: metav1.ObjectMeta{
					Namespace: ns, Name: obj.GetName(),
				}})
			}
		}
	}

	g.Expect(clients).To(HaveLen(2))
	for _, c := range clients {
		expectCondition(t, c, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	}
}
