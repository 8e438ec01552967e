// Package devstack runs the whole product on this machine. It starts a real
// etcd and kube-apiserver and the operator (cmd/manager) as a process, and
// applies a folder of manifests with the real kubectl. Then a stand-in for
// the kubelet starts the server (cmd/server) from the operator's own
// Deployment.
// `make dev` and the end-to-end test both run it.
package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/htpasswd"
	"github.com/deviceauth/deviceauth-operator/internal/localcluster"
	"github.com/deviceauth/deviceauth-operator/internal/render"
)

// Sample credentials that config/samples documents. Start reports them in
// Stack.Users only after checking them against the sample's htpasswd Secret.
const (
	sampleUser     = "dev"
	samplePassword = "dev-password"
)

// preferredPublicPort is the sample issuer's port. Start uses it when it is
// free, so that the samples need no change.
const preferredPublicPort = 8080

// startTimeout bounds the start of the operator and the server, so that a
// broken step ends the run with the log to read instead of hanging.
const startTimeout = 5 * time.Minute

// Options configures Start. Only RepoRoot is required.
type Options struct {
	// RepoRoot is the repository root.
	RepoRoot string

	// SamplesDir is the folder of manifests to apply with kubectl. Empty
	// means RepoRoot/config/samples.
	SamplesDir string

	// Server is the DeviceAuthServer to run as namespace/name. Empty means
	// the only one in SamplesDir.
	Server string

	// PublicPort is the loopback port of the server's public endpoints.
	// Zero means 8080 when it is free, else a free port. When it differs
	// from the port of the server's issuerURL, Start patches the issuer.
	PublicPort int

	// StateDir receives the kubeconfig and the logs. Empty means
	// RepoRoot/bin/dev.
	StateDir string

	// BinDir receives the built manager and server. Empty means
	// RepoRoot/bin.
	BinDir string

	// Progress receives one line per step. Nil means os.Stderr.
	Progress io.Writer
}

// Stack is the running control plane, operator and server.
type Stack struct {
	// ControlPlane is the etcd and kube-apiserver.
	ControlPlane *localcluster.ControlPlane

	// Server is the DeviceAuthServer that runs.
	Server types.NamespacedName

	// Issuer is the server's issuer URL, on the loopback port it listens on.
	Issuer string

	// Pod is the server process, started from the operator's Deployment.
	Pod *localcluster.PodRunner

	// ManagerLog and ServerLog are the paths of the two processes' logs.
	ManagerLog string
	ServerLog  string

	// Users is the sample "user / password" line when the sample user
	// signs in, else where to find the users.
	Users string

	// ClientID is the public client for the login command.
	ClientID string

	opts     Options
	binaries *binaryPaths

	manager       *exec.Cmd
	managerExited chan struct{}
	managerErr    error
}

// Start builds what is missing, starts the control plane, the operator and
// the server, and returns once the server responds at Issuer. The caller
// must call Stop, also after an error.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.SamplesDir == "" {
		opts.SamplesDir = filepath.Join(opts.RepoRoot, "config", "samples")
	}
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(opts.RepoRoot, "bin", "dev")
	}
	if opts.BinDir == "" {
		opts.BinDir = filepath.Join(opts.RepoRoot, "bin")
	}
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	e := &Stack{opts: opts}
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return e, err
	}

	binaries, err := e.buildAll(ctx)
	if err != nil {
		return e, err
	}
	e.binaries = binaries

	e.step("Starting etcd and kube-apiserver")
	cp, err := localcluster.StartControlPlane(ctx, localcluster.Options{
		RepoRoot:       opts.RepoRoot,
		AssetsDir:      binaries.assets,
		KubeconfigPath: filepath.Join(opts.StateDir, "kubeconfig"),
	})
	if err != nil {
		return e, err
	}
	e.ControlPlane = cp
	return e, e.start(ctx)
}

// ManagerExited is closed when the operator process exits.
func (e *Stack) ManagerExited() <-chan struct{} { return e.managerExited }

// ManagerErr is the operator's exit error, once ManagerExited is closed.
func (e *Stack) ManagerErr() error { return e.managerErr }

// Stop ends the server, the operator and the control plane, in that order.
func (e *Stack) Stop() error {
	err := e.stopProcesses()
	if e.ControlPlane != nil {
		e.step("Stopping etcd and kube-apiserver")
		err = errors.Join(err, e.ControlPlane.Stop())
		e.ControlPlane = nil
	}
	return err
}

func (e *Stack) start(ctx context.Context) error {
	if err := e.startManager(); err != nil {
		return err
	}

	waitCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	e.step("Applying " + e.relative(e.opts.SamplesDir))
	if err := e.applySamples(waitCtx); err != nil {
		return err
	}
	if err := e.pickServer(waitCtx); err != nil {
		return err
	}
	if err := e.matchIssuerPort(waitCtx); err != nil {
		return err
	}

	e.step("Waiting for the DeviceAuthClients to be Ready")
	if _, err := e.ControlPlane.Kubectl(waitCtx, "wait", "--for=condition=Ready", "deviceauthclient", "--all",
		"--all-namespaces", "--timeout="+startTimeout.String()); err != nil {
		return fmt.Errorf("%w; see %s", err, e.ManagerLog)
	}

	e.step("Starting the server from Deployment " + e.Server.String())
	if err := e.startServer(waitCtx); err != nil {
		return err
	}
	e.step("Waiting for DeviceAuthServer " + e.Server.String() + " to be Ready")
	if _, err := e.ControlPlane.Kubectl(waitCtx, "wait", "--for=condition=Ready", "deviceauthserver/"+e.Server.Name,
		"--namespace="+e.Server.Namespace, "--timeout="+startTimeout.String()); err != nil {
		return fmt.Errorf("%w; see %s", err, e.ManagerLog)
	}
	if err := e.waitForIssuer(waitCtx); err != nil {
		return err
	}
	e.Users = e.sampleCredentials(waitCtx)
	return e.pickLoginClient(waitCtx)
}

// startManager runs the operator binary against the control plane, with
// its output in manager.log of the state directory.
func (e *Stack) startManager() error {
	e.step("Starting the operator (" + e.relative(e.binaries.manager) + ")")
	e.ManagerLog = filepath.Join(e.opts.StateDir, "manager.log")
	logFile, err := os.Create(e.ManagerLog)
	if err != nil {
		return err
	}

	// The probe port is free and the metrics server is off, so that
	// nothing takes the server's port 8080.
	probePort, err := localcluster.FreeLoopbackPort()
	if err != nil {
		return err
	}
	cmd := exec.Command(e.binaries.manager,
		"--kubeconfig="+e.ControlPlane.Kubeconfig,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(probePort),
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", e.binaries.manager, err)
	}

	e.manager = cmd
	e.managerExited = make(chan struct{})
	go func() {
		e.managerErr = cmd.Wait()
		logFile.Close()
		close(e.managerExited)
	}()
	return nil
}

// applySamples waits for the CRDs and applies the samples with kubectl,
// with -k when the folder is a kustomization.
func (e *Stack) applySamples(ctx context.Context) error {
	if _, err := e.ControlPlane.Kubectl(ctx, "wait", "--for=condition=Established",
		"crd/deviceauthservers.deviceauth.dev", "crd/deviceauthclients.deviceauth.dev",
		"--timeout="+startTimeout.String()); err != nil {
		return err
	}
	mode := "-f"
	if _, err := os.Stat(filepath.Join(e.opts.SamplesDir, "kustomization.yaml")); err == nil {
		mode = "-k"
	}
	out, err := e.ControlPlane.Kubectl(ctx, "apply", mode, e.opts.SamplesDir)
	if err != nil {
		return err
	}
	fmt.Fprint(e.opts.Progress, indent(string(out)))
	return nil
}

// pickServer finds the DeviceAuthServer to run: the one named by -server,
// else the only one there is.
func (e *Stack) pickServer(ctx context.Context) error {
	if e.opts.Server != "" {
		namespace, name, ok := strings.Cut(e.opts.Server, "/")
		if !ok {
			return fmt.Errorf("invalid -server %q: expected namespace/name", e.opts.Server)
		}
		e.Server = types.NamespacedName{Namespace: namespace, Name: name}
		return nil
	}
	var list v1alpha1.DeviceAuthServerList
	if err := e.ControlPlane.Client.List(ctx, &list); err != nil {
		return fmt.Errorf("listing DeviceAuthServers: %w", err)
	}
	if len(list.Items) != 1 {
		return fmt.Errorf("the samples define %d DeviceAuthServers; pick one with -server namespace/name", len(list.Items))
	}
	e.Server = types.NamespacedName{Namespace: list.Items[0].Namespace, Name: list.Items[0].Name}
	return nil
}

// matchIssuerPort chooses the public port and, when it differs from the
// issuer URL's, patches the issuer so that every URL the server sends
// points at the port it really listens on.
func (e *Stack) matchIssuerPort(ctx context.Context) error {
	port, err := choosePublicPort(e.opts.PublicPort)
	if err != nil {
		return err
	}
	e.opts.PublicPort = port

	var server v1alpha1.DeviceAuthServer
	if err := e.ControlPlane.Client.Get(ctx, e.Server, &server); err != nil {
		return fmt.Errorf("getting DeviceAuthServer %s: %w", e.Server, err)
	}
	issuer, err := url.Parse(server.Spec.IssuerURL)
	if err != nil {
		return fmt.Errorf("DeviceAuthServer %s has invalid issuerURL %q: %w", e.Server, server.Spec.IssuerURL, err)
	}
	if issuer.Port() == strconv.Itoa(port) {
		e.Issuer = server.Spec.IssuerURL
		return nil
	}

	issuer.Host = "127.0.0.1:" + strconv.Itoa(port)
	e.Issuer = issuer.String()
	e.step(fmt.Sprintf("Serving on port %d, not the issuer's; patching issuerURL of %s to %s", port, e.Server, e.Issuer))
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"issuerURL": e.Issuer}})
	if err != nil {
		return err
	}
	_, err = e.ControlPlane.Kubectl(ctx, "patch", "deviceauthserver", e.Server.Name, "--namespace="+e.Server.Namespace,
		"--type=merge", "--patch="+string(patch))
	return err
}

// startServer runs cmd/server from the operator's Deployment.
func (e *Stack) startServer(ctx context.Context) error {
	e.ServerLog = filepath.Join(e.opts.StateDir, "server.log")
	logFile, err := os.Create(e.ServerLog)
	if err != nil {
		return err
	}
	server := &v1alpha1.DeviceAuthServer{}
	server.Name, server.Namespace = e.Server.Name, e.Server.Namespace
	e.Pod = &localcluster.PodRunner{
		Client:     e.ControlPlane.Client,
		Deployment: types.NamespacedName{Namespace: e.Server.Namespace, Name: render.DeploymentName(server)},
		Binaries:   map[string]string{"/server": e.binaries.server},
		HostPorts:  map[int32]int{render.HTTPPort: e.opts.PublicPort},
		PublicPort: render.HTTPPort,
		Output:     logFile,
	}
	if err := e.Pod.Start(ctx); err != nil {
		e.Pod = nil
		logFile.Close()
		return fmt.Errorf("%w; see %s", err, e.ServerLog)
	}
	return nil
}

// waitForIssuer polls the server's metadata until it names the expected
// issuer, which takes a config reload when the issuer was patched.
func (e *Stack) waitForIssuer(ctx context.Context) error {
	metadataURL := e.Pod.PublicURL() + "/.well-known/oauth-authorization-server"
	var last string
	for {
		var md struct {
			Issuer string `json:"issuer"`
		}
		resp, err := http.Get(metadataURL)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&md)
			resp.Body.Close()
		}
		if err == nil && md.Issuer == e.Issuer {
			return nil
		}
		last = md.Issuer
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server's metadata names issuer %q, expected %q: %w; see %s",
				last, e.Issuer, ctx.Err(), e.ServerLog)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sampleCredentials returns the sample user and password when they match
// the server's htpasswd Secret, or a pointer to the Secret otherwise.
func (e *Stack) sampleCredentials(ctx context.Context) string {
	var server v1alpha1.DeviceAuthServer
	if err := e.ControlPlane.Client.Get(ctx, e.Server, &server); err != nil {
		return "see the htpasswd Secret in " + e.relative(e.opts.SamplesDir)
	}
	secretName := render.UsersSecretName(&server)
	fallback := fmt.Sprintf("see Secret %s/%s in %s", server.Namespace, secretName, e.relative(e.opts.SamplesDir))
	if secretName == "" {
		return fallback
	}
	var secret corev1.Secret
	if err := e.ControlPlane.Client.Get(ctx, types.NamespacedName{Namespace: server.Namespace, Name: secretName}, &secret); err != nil {
		return fallback
	}
	users, err := htpasswd.Parse(secret.Data[config.HtpasswdFileName])
	if err != nil || !users.Authenticate(sampleUser, samplePassword) {
		return fallback
	}
	return sampleUser + " / " + samplePassword + "   (sample user for development only)"
}

// pickLoginClient chooses the client of the login command: the sample's
// "cli" when it is there, else the first public client.
func (e *Stack) pickLoginClient(ctx context.Context) error {
	var list v1alpha1.DeviceAuthClientList
	if err := e.ControlPlane.Client.List(ctx, &list, client.InNamespace(e.Server.Namespace)); err != nil {
		return fmt.Errorf("listing DeviceAuthClients: %w", err)
	}
	for _, c := range list.Items {
		if c.Spec.ServerRef.Name != e.Server.Name || c.Spec.ClientType != v1alpha1.ClientTypePublic {
			continue
		}
		if e.ClientID == "" || c.Status.ClientID == "cli" {
			e.ClientID = c.Status.ClientID
		}
	}
	if e.ClientID == "" {
		return fmt.Errorf("the samples define no public DeviceAuthClient of server %s to log in with", e.Server)
	}
	return nil
}

func (e *Stack) PrintInstructions(w io.Writer) {
	kubectl := e.relative(filepath.Join(e.binaries.assets, "kubectl"))
	fmt.Fprintf(w, `
Device Auth Operator is running on a local control plane.

  Issuer:             %[1]s
  Verification page:  %[1]s/device
  Sign in as:         %[2]s

Log in with the sample public client:

  go run ./cmd/deviceauth login --issuer %[1]s --client-id %[7]s

Look at the cluster with kubectl:

  export KUBECONFIG=%[3]s
  %[4]s get deviceauthservers,deviceauthclients,deployments,secrets

Logs: %[5]s and %[6]s
Press Ctrl-C to stop; the cluster is deleted then.
`, e.Issuer, e.Users, e.ControlPlane.Kubeconfig, kubectl, e.relative(e.ManagerLog), e.relative(e.ServerLog), e.ClientID)
}

// stop ends the server and then the manager.
func (e *Stack) stopProcesses() error {
	var errs []error
	if e.Pod != nil {
		e.step("Stopping the server")
		errs = append(errs, e.Pod.Stop())
		e.Pod = nil
	}
	if e.manager != nil {
		e.step("Stopping the operator")
		errs = append(errs, stopProcess(e.manager, e.managerExited))
		e.manager = nil
	}
	return errors.Join(errs...)
}

// stopProcess sends SIGTERM, then SIGKILL when the process still runs 20
// seconds later.
func stopProcess(cmd *exec.Cmd, exited <-chan struct{}) error {
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(20 * time.Second):
		return cmd.Process.Kill()
	}
}

// relative returns path relative to the repository root when it is inside.
func (e *Stack) relative(path string) string {
	rel, err := filepath.Rel(e.opts.RepoRoot, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return rel
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
