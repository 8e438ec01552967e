// Package e2e runs the whole product on a real kube-apiserver and etcd. The
// operator runs as a process and the samples are applied with the real
// kubectl. The server is started from the Deployment that the operator
// created, with the test standing in for the kubelet and the deployment
// controller.
package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/deviceauth/deviceauth-operator/internal/devstack"
	"github.com/deviceauth/deviceauth-operator/internal/localcluster"
)

// Sample values from config/samples.
const (
	sampleUser     = "dev"
	samplePassword = "dev-password"
	sampleNS       = "default"
)

// shortLivedClient is applied by the test on top of the samples: a client
// whose device codes expire after two seconds.
const shortLivedClient = `apiVersion: deviceauth.dev/v1alpha1
kind: DeviceAuthClient
metadata:
  name: short-lived
spec:
  serverRef:
    name: deviceauth
  polling:
    intervalSeconds: 1
    expiresInSeconds: 2
`

// stack is the running product and what the tests learned about it.
type stack struct {
	*devstack.Stack

	issuer         string
	user           string
	password       string
	botSecret      string
	cliInterval    int
	shortExpiresIn int

	mu    sync.Mutex
	codes []string // device and user codes handed out, never to be logged
}

// remember records codes, the user code also without its dash, as the
// server stores it.
func (s *stack) remember(deviceCode, userCode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes = append(s.codes, deviceCode, userCode, strings.ReplaceAll(userCode, "-", ""))
}

func TestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root, err := localcluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}

	// A port other than the samples' 8080, so that the issuer is patched
	// to match it as make dev does when 8080 is taken.
	port, err := localcluster.FreeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	running, err := devstack.Start(ctx, devstack.Options{
		RepoRoot:   root,
		PublicPort: port,
		StateDir:   t.TempDir(),
		BinDir:     t.TempDir(),
	})
	if err != nil {
		t.Errorf("starting the operator and the server: %v", err)
	}
	s := &stack{
		Stack:          running,
		issuer:         running.Issuer,
		user:           sampleUser,
		password:       samplePassword,
		cliInterval:    5,
		shortExpiresIn: 2,
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("manager log:\n%s", readFile(running.ManagerLog))
			t.Logf("server log:\n%s", readFile(running.ServerLog))
		}
		if err := running.Stop(); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d", port); s.issuer != want {
		t.Fatalf("issuer = %q, want %q after the patch", s.issuer, want)
	}
	var instructions strings.Builder
	running.PrintInstructions(&instructions)
	if want := "go run ./cmd/deviceauth login --issuer " + s.issuer + " --client-id cli\n"; !strings.Contains(instructions.String(), want) {
		t.Errorf("printed instructions lack the login command %q:\n%s", want, instructions.String())
	}
	if !strings.Contains(running.Users, "dev / dev-password") {
		t.Errorf("Users = %q, want the sample user, which the sample htpasswd Secret accepts", running.Users)
	}

	t.Run("kubectl shows ready clients", s.testKubectl)
	s.botSecret = s.clientSecret(t, "ci-bot-client-secret")
	s.applyShortLivedClient(t)

	t.Run("x/oauth2 device flow", s.testOAuth2DeviceFlow)
	t.Run("polling errors", s.testPollingErrors)
	t.Run("logs carry no codes", s.testLogsCarryNoCodes)
}

func (s *stack) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := s.ControlPlane.Kubectl(ctx, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *stack) testKubectl(t *testing.T) {
	s.kubectl(t, "wait", "--for=condition=Ready", "deviceauthclient/cli", "deviceauthclient/ci-bot",
		"--namespace="+sampleNS, "--timeout=60s")
	s.kubectl(t, "wait", "--for=condition=Ready", "deviceauthserver/deviceauth",
		"--namespace="+sampleNS, "--timeout=60s")

	out := s.kubectl(t, "get", "deviceauthclients", "--namespace="+sampleNS)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	for _, column := range []string{"NAME", "CLIENT", "ID", "SERVER", "TYPE", "INTERVAL", "READY", "REASON", "AGE"} {
		if !contains(header, column) {
			t.Errorf("kubectl get deviceauthclients header %q has no column %s", lines[0], column)
		}
	}
	rows := map[string][]string{}
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		rows[fields[0]] = fields
	}
	for name, want := range map[string][]string{
		"cli":    {"cli", "cli", "deviceauth", "Public", "5", "True", "Ready"},
		"ci-bot": {"ci-bot", "ci-bot", "deviceauth", "Confidential", "10", "True", "Ready"},
	} {
		got := rows[name]
		if len(got) < len(want) || strings.Join(got[:len(want)], " ") != strings.Join(want, " ") {
			t.Errorf("kubectl get deviceauthclients row %q = %q, want it to start with %q", name, got, want)
		}
	}

	servers := s.kubectl(t, "get", "deviceauthservers", "--namespace="+sampleNS)
	if !strings.Contains(servers, s.issuer) || !strings.Contains(servers, "True") {
		t.Errorf("kubectl get deviceauthservers = %q, want the issuer %s and Ready True", servers, s.issuer)
	}
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}

// clientSecret reads the secret that the operator generated.
func (s *stack) clientSecret(t *testing.T, name string) string {
	t.Helper()
	var secret corev1.Secret
	key := types.NamespacedName{Namespace: sampleNS, Name: name}
	if err := s.ControlPlane.Client.Get(context.Background(), key, &secret); err != nil {
		t.Fatalf("getting Secret %s: %v", key, err)
	}
	value := secret.Data["clientSecret"]
	if len(value) < 32 {
		t.Fatalf("generated client secret has %d characters, want at least 32", len(value))
	}
	return string(value)
}

// applyShortLivedClient adds a client with kubectl and waits until the
// running server serves it, which takes the kubelet stand-in's Secret sync
// and the server's hot reload.
func (s *stack) applyShortLivedClient(t *testing.T) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "short-lived.yaml")
	if err := os.WriteFile(path, []byte(shortLivedClient), 0o644); err != nil {
		t.Fatal(err)
	}
	s.kubectl(t, "apply", "--namespace="+sampleNS, "-f", path)
	s.kubectl(t, "wait", "--for=condition=Ready", "deviceauthclient/short-lived",
		"--namespace="+sampleNS, "--timeout=60s")

	deadline := time.Now().Add(time.Minute)
	for {
		resp, body := post(t, s.issuer+"/oauth2/device_authorization", clientAuth{id: "short-lived"}, nil)
		if resp.StatusCode == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not pick up client short-lived within a minute: %d %s", resp.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *stack) testLogsCarryNoCodes(t *testing.T) {
	s.mu.Lock()
	codes := append([]string(nil), s.codes...)
	s.mu.Unlock()
	if len(codes) == 0 {
		t.Fatal("no codes were recorded, so the check would pass vacuously")
	}
	logs := map[string]string{
		"server":  readFile(s.ServerLog),
		"manager": readFile(s.ManagerLog),
	}
	secrets := append(codes, s.botSecret, base64.StdEncoding.EncodeToString([]byte(s.botSecret)))
	for name, text := range logs {
		if text == "" {
			t.Errorf("%s log is empty, so the check would pass vacuously", name)
		}
		for _, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("%s log contains a code or secret", name)
			}
		}
	}
}

func readFile(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return string(data)
}
