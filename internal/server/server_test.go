package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/filewatch"
	"github.com/deviceauth/deviceauth-operator/internal/keys"
	"github.com/deviceauth/deviceauth-operator/internal/localcluster"
	"github.com/deviceauth/deviceauth-operator/internal/logtest"
	"github.com/deviceauth/deviceauth-operator/internal/token/tokentest"
	"github.com/deviceauth/deviceauth-operator/internal/verification/verificationtest"
)

const (
	testUser     = "alice"
	testPassword = "correct horse battery staple"
)

func htpasswdLine(t *testing.T) []byte {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(testUser + ":" + strings.Replace(string(hash), "$2a$", "$2y$", 1) + "\n")
}

// running is a server started by startServer.
type running struct {
	issuer string
	admin  string
	logs   *logtest.Recorder
}

// startServer runs Run on free loopback ports until the test ends.
func startServer(t *testing.T, opts Options) *running {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	return startServerWith(t, opts)
}

func startServerWith(t *testing.T, opts Options) *running {
	t.Helper()
	logs, logger := logtest.New(1)
	opts.AdminListen = "127.0.0.1:0"
	opts.Storage = StorageMemory
	opts.Watch = filewatch.Options{Debounce: 20 * time.Millisecond, Resync: 200 * time.Millisecond}
	opts.Logger = logger

	ready := make(chan *running, 1)
	opts.Listening = func(public, admin net.Addr, issuer string) {
		ready <- &running{issuer: issuer, admin: "http://" + admin.String(), logs: logs}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case r := <-ready:
		return r
	case err := <-done:
		t.Fatalf("Run returned before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start within 30s")
	}
	return nil
}

func oauth2Config(issuer, clientID string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: clientID,
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: issuer + "/oauth2/device_authorization",
			TokenURL:      issuer + "/oauth2/token",
		},
	}
}

// verifyAccessToken checks the token's signature against the server's
// JWKS and returns its claims.
func verifyAccessToken(t *testing.T, issuer, raw string) map[string]any {
	t.Helper()
	claims, err := tokentest.VerifyWithJWKS(issuer+"/oauth2/jwks", raw)
	if err != nil {
		t.Fatal(err)
	}
	return claims
}

// loginApproved runs golang.org/x/oauth2's device flow with its default
// settings while a scripted person approves on the verification page.
func loginApproved(t *testing.T, issuer, clientID string) *oauth2.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conf := oauth2Config(issuer, clientID)
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	approved := make(chan error, 1)
	go func() {
		approved <- verificationtest.Approve(ctx, &http.Client{}, da.VerificationURIComplete, testUser, testPassword)
	}()
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
	if err := <-approved; err != nil {
		t.Fatalf("approving on the verification page: %v", err)
	}
	return tok
}

const standaloneManifests = `apiVersion: deviceauth.dev/v1alpha1
kind: DeviceAuthServer
metadata:
  name: login
spec:
  userAuthentication:
    static:
      secretName: users
  defaults:
    polling:
      intervalSeconds: 1
---
apiVersion: deviceauth.dev/v1alpha1
kind: DeviceAuthClient
metadata:
  name: cli
spec:
  serverRef:
    name: login
  scopes: [openid, kubernetes]
---
apiVersion: v1
kind: Secret
metadata:
  name: users
stringData:
  htpasswd: %q
`

func TestStandaloneLoginWithOAuth2(t *testing.T) {
	dir := t.TempDir()
	manifest := fmt.Sprintf(standaloneManifests, htpasswdLine(t))
	if err := os.WriteFile(filepath.Join(dir, "all.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, Options{ManifestsDir: dir})

	if !strings.HasPrefix(srv.issuer, "http://127.0.0.1:") {
		t.Fatalf("issuer = %q, want http://127.0.0.1:PORT from the listen address", srv.issuer)
	}
	tok := loginApproved(t, srv.issuer, "cli")
	claims := verifyAccessToken(t, srv.issuer, tok.AccessToken)
	if claims["sub"] != testUser || claims["iss"] != srv.issuer || claims["client_id"] != "cli" {
		t.Errorf("claims = %v, want sub %q, iss %q, client_id cli", claims, testUser, srv.issuer)
	}
	scope, _ := claims["scope"].(string)
	if got := strings.Fields(scope); len(got) != 2 || !slices.Contains(got, "openid") || !slices.Contains(got, "kubernetes") {
		t.Errorf("scope claim = %q, want all of the client's scopes, openid and kubernetes", scope)
	}
}

func TestStandaloneRejectsInvalidManifest(t *testing.T) {
	dir := t.TempDir()
	manifest := strings.Replace(fmt.Sprintf(standaloneManifests, htpasswdLine(t)),
		"intervalSeconds: 1", "intervalSeconds: 0", 1)
	if err := os.WriteFile(filepath.Join(dir, "all.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), Options{
		ManifestsDir: dir, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", Logger: logr.Discard(),
	})
	if err == nil || !strings.Contains(err.Error(), "intervalSeconds") {
		t.Fatalf("Run error = %v, want one naming intervalSeconds", err)
	}
}

// mountedVolumes is the pod's three Secret volumes, written as kubelet does.
type mountedVolumes struct {
	config, keys, users localcluster.VolumeDir
}

func newMountedVolumes(t *testing.T) *mountedVolumes {
	root := t.TempDir()
	return &mountedVolumes{
		config: localcluster.VolumeDir{Path: filepath.Join(root, "config")},
		keys:   localcluster.VolumeDir{Path: filepath.Join(root, "keys")},
		users:  localcluster.VolumeDir{Path: filepath.Join(root, "users")},
	}
}

func (v *mountedVolumes) writeConfig(t *testing.T, data []byte) {
	t.Helper()
	if _, err := v.config.Write(map[string][]byte{config.FileName: data}); err != nil {
		t.Fatal(err)
	}
}

func clientConfig(issuer string, clientIDs ...string) []byte {
	cfg := config.Config{Issuer: issuer, AccessTokenLifetimeSeconds: 600}
	for _, id := range clientIDs {
		cfg.Clients = append(cfg.Clients, config.Client{
			ClientID: id, Type: config.ClientTypePublic,
			IntervalSeconds: 1, ExpiresInSeconds: 120,
			UserCodeCharset: config.UserCodeLetters, UserCodeLength: 8,
		})
	}
	data, _ := json.Marshal(cfg)
	return data
}

func deviceAuthorization(issuer, clientID string) (*http.Response, map[string]any, error) {
	resp, err := http.PostForm(issuer+"/oauth2/device_authorization", url.Values{"client_id": {clientID}})
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body := map[string]any{}
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &body)
	return resp, body, nil
}

func TestMountedReloadKeepsPendingAuthorizations(t *testing.T) {
	g := NewWithT(t)
	vols := newMountedVolumes(t)
	keySet, err := keys.Generate()
	g.Expect(err).NotTo(HaveOccurred())
	_, err = vols.keys.Write(keySet.SecretData())
	g.Expect(err).NotTo(HaveOccurred())
	_, err = vols.users.Write(map[string][]byte{config.HtpasswdFileName: htpasswdLine(t)})
	g.Expect(err).NotTo(HaveOccurred())

	// The issuer must match the port, which is known only once bound, so
	// reserve one first.
	port, err := localcluster.FreeLoopbackPort()
	g.Expect(err).NotTo(HaveOccurred())
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	issuer := "http://" + listen
	vols.writeConfig(t, clientConfig(issuer, "first"))

	opts := Options{
		ConfigPath:   filepath.Join(vols.config.Path, config.FileName),
		KeysDir:      vols.keys.Path,
		HtpasswdPath: filepath.Join(vols.users.Path, config.HtpasswdFileName),
	}
	srv := startServerOn(t, opts, listen)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conf := oauth2Config(issuer, "first")
	pending, err := conf.DeviceAuth(ctx)
	g.Expect(err).NotTo(HaveOccurred())

	resp, _, err := deviceAuthorization(issuer, "second")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest), "unknown client before the reload")

	vols.writeConfig(t, clientConfig(issuer, "first", "second"))
	g.Eventually(func(g Gomega) {
		resp, _, err := deviceAuthorization(issuer, "second")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed(), "client added by the ..data swap")

	vols.writeConfig(t, []byte(`{"issuer": ""}`))
	g.Eventually(func(g Gomega) {
		g.Expect(metric(g, srv.admin, `deviceauth_config_reloads_total{result="error"}`)).To(Equal("1"))
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed(), "a broken config is counted as a failed reload")
	g.Expect(srv.logs.String()).To(ContainSubstring("still serving the previous configuration"))

	approved := make(chan error, 1)
	go func() {
		approved <- verificationtest.Approve(ctx, &http.Client{}, pending.VerificationURIComplete, testUser, testPassword)
	}()
	tok, err := conf.DeviceAccessToken(ctx, pending)
	g.Expect(err).NotTo(HaveOccurred(), "the authorization made before both reloads still completes")
	g.Expect(<-approved).To(Succeed())
	claims := verifyAccessToken(t, issuer, tok.AccessToken)
	g.Expect(claims["sub"]).To(Equal(testUser))
}

// startServerOn is startServer with a fixed public address.
func startServerOn(t *testing.T, opts Options, listen string) *running {
	t.Helper()
	opts.Listen = listen
	return startServerWith(t, opts)
}

func metric(g Gomega, admin, series string) string {
	resp, err := http.Get(admin + "/metrics")
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	for _, line := range strings.Split(string(data), "\n") {
		if value, ok := strings.CutPrefix(line, series+" "); ok {
			return value
		}
	}
	return ""
}

func TestAdminPortServesHealthAndMetrics(t *testing.T) {
	dir := t.TempDir()
	manifest := fmt.Sprintf(standaloneManifests, htpasswdLine(t))
	if err := os.WriteFile(filepath.Join(dir, "all.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, Options{ManifestsDir: dir})
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(srv.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET admin %s = %d, want 200", path, resp.StatusCode)
		}
		resp, err = http.Get(srv.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET public %s = %d, want 404: admin endpoints stay off the public port", path, resp.StatusCode)
		}
	}
}

func TestStandaloneLogsWhatItCannotServe(t *testing.T) {
	dir := t.TempDir()
	manifest := fmt.Sprintf(standaloneManifests, htpasswdLine(t)) + `---
apiVersion: deviceauth.dev/v1alpha1
kind: DeviceAuthClient
metadata:
  name: orphan
spec:
  serverRef:
    name: no-such-server
`
	manifest = strings.Replace(manifest, "spec:\n  userAuthentication:", "spec:\n  issuerURL: http://127.0.0.1:1\n  userAuthentication:", 1)
	if err := os.WriteFile(filepath.Join(dir, "all.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, Options{ManifestsDir: dir})

	logs := srv.logs.String()
	if !strings.Contains(logs, `"Client not served" "client"="default/orphan" "reason"="ServerNotFound"`) {
		t.Errorf("logs do not report the client of another server:\n%s", logs)
	}
	if !strings.Contains(logs, "issuerURL is on another port than --listen") {
		t.Errorf("logs do not warn that the issuer's port differs from the listen port:\n%s", logs)
	}
}
