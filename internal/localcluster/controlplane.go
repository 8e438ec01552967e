// Package localcluster runs the product against a real control plane on one
// machine, without Docker, a kubelet or a kube-controller-manager. It starts
// etcd and kube-apiserver through envtest, and PodRunner does the work of
// the kubelet and the deployment controller for the server's Deployment. The
// end-to-end tests and the development environment (make dev) use it.
package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	deviceauthv1alpha1 "github.com/deviceauth/deviceauth-operator/api/v1alpha1"
)

// ModulePath is the Go module path that identifies the repository root.
const ModulePath = "github.com/deviceauth/deviceauth-operator"

// defaultStartTimeout bounds the start of etcd and of kube-apiserver each.
// envtest's own default of 20 seconds is too short on a 2-core machine that
// is also compiling and running other test packages.
const defaultStartTimeout = 2 * time.Minute

// Options configures StartControlPlane. Every field is optional.
type Options struct {
	// RepoRoot is the repository root. Empty means the nearest directory at
	// or above the working directory whose go.mod declares ModulePath.
	RepoRoot string

	// AssetsDir contains the etcd, kube-apiserver and kubectl binaries.
	// Empty means $KUBEBUILDER_ASSETS, else RepoRoot/bin/controlplane, which
	// hack/controlplane.sh fills.
	AssetsDir string

	// CRDDirs lists directories of CRD manifests to install. Nil means
	// RepoRoot/config/crd/bases. A directory that does not exist is an
	// error, so that a missing `make manifests` is not silently ignored.
	CRDDirs []string

	// KubeconfigPath is the path of the kubeconfig file to write. Empty
	// means a file in a temporary directory that Stop removes.
	KubeconfigPath string

	// StartTimeout bounds the start of etcd and of kube-apiserver each.
	// Zero means 2 minutes.
	StartTimeout time.Duration
}

// ControlPlane is a running etcd and kube-apiserver with the CRDs
// installed, reachable on 127.0.0.1 as a member of system:masters.
type ControlPlane struct {
	// Kubeconfig is the path of a kubeconfig file for kubectl and other
	// clients. It embeds the client certificate and the CA.
	Kubeconfig string

	// RESTConfig connects to kube-apiserver with the same credentials.
	RESTConfig *rest.Config

	// Client is a controller-runtime client whose scheme registers the
	// built-in kinds and the deviceauth.dev kinds.
	Client client.Client

	// Scheme is the scheme of Client.
	Scheme *runtime.Scheme

	// KubectlPath is the kubectl binary that Kubectl runs.
	KubectlPath string

	env     *envtest.Environment
	tempDir string
}

// StartControlPlane starts etcd and kube-apiserver, installs the CRDs and
// writes a kubeconfig file. The caller must call Stop. When ctx ends
// before the control plane is up, StartControlPlane stops it and returns
// the context's error.
func StartControlPlane(ctx context.Context, opts Options) (*ControlPlane, error) {
	opts, err := resolveOptions(opts)
	if err != nil {
		return nil, err
	}
	for _, dir := range append([]string{opts.AssetsDir}, opts.CRDDirs...) {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("control plane: %w (run make controlplane manifests)", err)
		}
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	if err := deviceauthv1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}

	env := &envtest.Environment{
		BinaryAssetsDirectory:    opts.AssetsDir,
		CRDDirectoryPaths:        opts.CRDDirs,
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme,
		ControlPlaneStartTimeout: opts.StartTimeout,
	}
	cfg, err := startEnvironment(ctx, env)
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{
		RESTConfig:  cfg,
		Scheme:      scheme,
		KubectlPath: filepath.Join(opts.AssetsDir, "kubectl"),
		env:         env,
	}
	if err := cp.finishSetup(opts.KubeconfigPath); err != nil {
		return nil, errors.Join(err, cp.Stop())
	}
	return cp, nil
}

// startEnvironment runs env.Start, which takes no context, so that a
// cancelled ctx still returns promptly and leaves no processes behind.
func startEnvironment(ctx context.Context, env *envtest.Environment) (*rest.Config, error) {
	type result struct {
		cfg *rest.Config
		err error
	}
	done := make(chan result, 1)
	go func() {
		cfg, err := env.Start()
		done <- result{cfg, err}
	}()

	select {
	case r := <-done:
		if r.err != nil {
			return nil, errors.Join(fmt.Errorf("starting control plane: %w", r.err), env.Stop())
		}
		return r.cfg, nil
	case <-ctx.Done():
		r := <-done
		stopErr := env.Stop()
		if r.err != nil {
			stopErr = errors.Join(r.err, stopErr)
		}
		return nil, errors.Join(ctx.Err(), stopErr)
	}
}

func (cp *ControlPlane) finishSetup(kubeconfigPath string) error {
	c, err := client.New(cp.RESTConfig, client.Options{Scheme: cp.Scheme})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	cp.Client = c

	if kubeconfigPath == "" {
		cp.tempDir, err = os.MkdirTemp("", "localcluster-")
		if err != nil {
			return fmt.Errorf("creating kubeconfig directory: %w", err)
		}
		kubeconfigPath = filepath.Join(cp.tempDir, "kubeconfig")
	}
	if err := os.MkdirAll(filepath.Dir(kubeconfigPath), 0o700); err != nil {
		return fmt.Errorf("creating kubeconfig directory: %w", err)
	}
	// The file holds the admin's private key, so only the owner reads it.
	if err := os.WriteFile(kubeconfigPath, cp.env.KubeConfig, 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	cp.Kubeconfig = kubeconfigPath
	return nil
}

// Kubectl runs the real kubectl binary against the control plane and
// returns its standard output. The error of a failed run includes the
// command line and kubectl's standard error.
func (cp *ControlPlane) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	full := append([]string{"--kubeconfig=" + cp.Kubeconfig}, args...)
	cmd := exec.CommandContext(ctx, cp.KubectlPath, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("kubectl %s: %w: %s",
			strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Stop stops kube-apiserver and etcd and removes the temporary kubeconfig.
// A kubeconfig written to Options.KubeconfigPath is left in place.
func (cp *ControlPlane) Stop() error {
	err := cp.env.Stop()
	if cp.tempDir != "" {
		err = errors.Join(err, os.RemoveAll(cp.tempDir))
	}
	if err != nil {
		return fmt.Errorf("stopping control plane: %w", err)
	}
	return nil
}

func resolveOptions(opts Options) (Options, error) {
	if opts.RepoRoot == "" {
		root, err := FindRepoRoot()
		if err != nil {
			return opts, err
		}
		opts.RepoRoot = root
	}
	if opts.AssetsDir == "" {
		opts.AssetsDir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if opts.AssetsDir == "" {
		opts.AssetsDir = filepath.Join(opts.RepoRoot, "bin", "controlplane")
	}
	if opts.CRDDirs == nil {
		opts.CRDDirs = []string{filepath.Join(opts.RepoRoot, "config", "crd", "bases")}
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	return opts, nil
}

// FindRepoRoot returns the nearest directory at or above the working
// directory whose go.mod declares ModulePath.
func FindRepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if declaresModule(filepath.Join(dir, "go.mod"), ModulePath) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod of module %s at or above %s", ModulePath, wd)
		}
	}
}

func declaresModule(goMod, module string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 2 && fields[0] == "module" {
			return fields[1] == module
		}
	}
	return false
}
