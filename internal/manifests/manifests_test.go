package manifests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
)

const serverYAML = `apiVersion: deviceauth.dev/v1alpha1
kind: DeviceAuthServer
metadata:
  name: login
spec:
  issuerURL: %s
  userAuthentication:
    static:
      secretName: users
`

const clientsYAML = `apiVersion: deviceauth.dev/v1alpha1
kind: DeviceAuthClient
metadata:
  name: cli
spec:
  serverRef:
    name: login
  polling:
    intervalSeconds: 2
    expiresInSeconds: 60
---
apiVersion: v1
kind: Secret
metadata:
  name: users
stringData:
  htpasswd: "dev:$2y$05$abc"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unrelated
`

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newLoader(t *testing.T) *Loader {
	t.Helper()
	l, err := NewLoader()
	if err != nil {
		t.Fatalf("NewLoader: %v", err)
	}
	return l
}

func TestLoadDirAppliesSchemaDefaults(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"server.yaml":  strings.Replace(serverYAML, "%s", "http://127.0.0.1:8080", 1),
		"clients.yaml": clientsYAML,
		"notes.txt":    "not a manifest",
	})
	b, err := newLoader(t).LoadDir(context.Background(), dir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}

	if b.Server.Namespace != DefaultNamespace {
		t.Errorf("server namespace = %q, want %q", b.Server.Namespace, DefaultNamespace)
	}
	if r := b.Server.Spec.Replicas; r == nil || *r != 1 {
		t.Errorf("replicas = %v, want the schema default 1", r)
	}
	if b.Server.Spec.Storage.Type != v1alpha1.StorageTypeMemory {
		t.Errorf("storage.type = %q, want the schema default Memory", b.Server.Spec.Storage.Type)
	}
	if b.Server.Spec.Tokens.AccessTokenLifetimeSeconds != 3600 {
		t.Errorf("accessTokenLifetimeSeconds = %d, want the schema default 3600", b.Server.Spec.Tokens.AccessTokenLifetimeSeconds)
	}

	if len(b.Clients) != 1 || b.Clients[0].Spec.ClientType != v1alpha1.ClientTypePublic {
		t.Fatalf("clients = %+v, want one Public client", b.Clients)
	}
	if p := b.Clients[0].Spec.Polling; p.IntervalSeconds == nil || *p.IntervalSeconds != 2 ||
		p.ExpiresInSeconds == nil || *p.ExpiresInSeconds != 60 {
		t.Errorf("polling = %+v, want intervalSeconds 2 and expiresInSeconds 60", p)
	}

	users := b.Secret(DefaultNamespace, "users")
	if users == nil || string(users.Data["htpasswd"]) != "dev:$2y$05$abc" {
		t.Errorf("users Secret = %+v, want stringData merged into data", users)
	}

	if len(b.Ignored) != 1 || !strings.Contains(b.Ignored[0], "ConfigMap default/unrelated") {
		t.Errorf("Ignored = %v, want the ConfigMap", b.Ignored)
	}
}

func TestLoadDirRejects(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name:  "http issuer off loopback",
			files: map[string]string{"s.yaml": strings.Replace(serverYAML, "%s", "http://login.example.com", 1)},
			want:  "issuerURL must start with https://",
		},
		{
			name:  "issuer with trailing slash",
			files: map[string]string{"s.yaml": strings.Replace(serverYAML, "%s", "https://login.example.com/", 1)},
			want:  "must not end with a slash",
		},
		{
			name:  "no server",
			files: map[string]string{"c.yaml": clientsYAML},
			want:  "no DeviceAuthServer found",
		},
		{
			name: "two servers",
			files: map[string]string{
				"a.yaml": strings.Replace(serverYAML, "%s", "https://a.example.com", 1),
				"b.yaml": strings.Replace(strings.Replace(serverYAML, "%s", "https://b.example.com", 1), "name: login", "name: other", 1),
			},
			want: "found 2 DeviceAuthServers",
		},
		{
			name: "unknown field",
			files: map[string]string{"s.yaml": strings.Replace(serverYAML, "%s", "https://a.example.com", 1) +
				"  replica: 2\n"},
			want: "replica",
		},
		{
			name:  "broken YAML",
			files: map[string]string{"s.yaml": "kind: [unclosed"},
			want:  "s.yaml",
		},
	}
	l := newLoader(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.LoadDir(context.Background(), writeDir(t, tc.files))
			if err == nil {
				t.Fatalf("LoadDir accepted the folder, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadDir error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadDirDefaultIssuerURL(t *testing.T) {
	withoutIssuer := strings.Replace(serverYAML, "  issuerURL: %s\n", "", 1)
	dir := writeDir(t, map[string]string{"s.yaml": withoutIssuer})

	l, err := NewLoader(WithDefaultIssuerURL("http://127.0.0.1:9000"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.LoadDir(context.Background(), dir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	if got := b.Server.Spec.IssuerURL; got != "http://127.0.0.1:9000" {
		t.Errorf("issuerURL = %q, want the default http://127.0.0.1:9000", got)
	}

	withIssuer := writeDir(t, map[string]string{"s.yaml": strings.Replace(serverYAML, "%s", "https://login.example.com", 1)})
	b, err = l.LoadDir(context.Background(), withIssuer)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	if got := b.Server.Spec.IssuerURL; got != "https://login.example.com" {
		t.Errorf("issuerURL = %q, want the manifest's https://login.example.com", got)
	}

	if _, err := newLoader(t).LoadDir(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "issuerURL") {
		t.Errorf("LoadDir without a default issuer: error = %v, want one naming issuerURL", err)
	}
}
