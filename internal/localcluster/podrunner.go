package localcluster

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	defaultSyncInterval = time.Second

	// probeInterval is how often Start polls the readiness probe while it
	// waits for the first success.
	probeInterval = 200 * time.Millisecond

	// stopGracePeriod is how long Stop waits after SIGTERM before SIGKILL.
	// It is shorter than a pod's default of 30 seconds because nothing
	// here needs a long drain.
	stopGracePeriod = 10 * time.Second

	// maxLogBytes bounds the process output that Logs keeps.
	maxLogBytes = 4 << 20
)

// PodRunner does the work of the kubelet and the deployment controller for
// one Deployment on this machine. It runs the one container of the
// Deployment's pod template as a local process with its command, args and
// env. The Secret, ConfigMap and emptyDir volumes become directories under
// a temporary root, and Secrets and ConfigMaps are kept in sync the way
// kubelet does. Container ports become loopback ports. Once the readiness
// probe passes, PodRunner writes the Deployment's status as the deployment
// controller would.
//
// Set the fields, then call Start. A PodRunner runs once: Stop ends it.
type PodRunner struct {
	// Client reads the Deployment, Secrets and ConfigMaps and writes the
	// Deployment's status.
	Client client.Client

	// Deployment names the Deployment to run.
	Deployment types.NamespacedName

	// Binaries maps the first element of the container's command, such as
	// "/server", to an executable on this machine.
	Binaries map[string]string

	// HostPorts maps container ports to the loopback ports to use instead.
	// Container ports not listed get free ports.
	HostPorts map[int32]int

	// PublicPort is the container port that PublicURL points at. Zero
	// means the port named "http", else the first container port that the
	// readiness probe does not use.
	PublicPort int32

	// Output, if set, receives the process's standard output and standard
	// error as they are written, in addition to Logs.
	Output io.Writer

	// SyncInterval is how often the runner rereads the Deployment, its
	// Secrets and ConfigMaps, and probes readiness. Zero means 1 second.
	// Kubelet takes up to about a minute to update a volume; a short
	// interval keeps tests fast.
	SyncInterval time.Duration

	mu        sync.Mutex
	started   bool
	root      string
	hostPorts map[int32]int
	pod       *podProcess
	logs      logBuffer

	cancel   context.CancelFunc
	loopDone chan struct{}
}

// podProcess is one run of the container.
type podProcess struct {
	spec     *containerSpec
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
	template string // hash of the pod template it was started from
}

// Start waits for the Deployment and the Secrets and ConfigMaps it mounts
// to exist, starts the process, and waits until its readiness probe
// passes. It then writes the Deployment's status and returns, and a
// goroutine keeps the pod in sync until Stop. Cancelling ctx aborts the
// waits, but only Stop ends a pod that has started.
func (r *PodRunner) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("pod runner already started")
	}
	r.started = true
	r.mu.Unlock()

	if r.SyncInterval == 0 {
		r.SyncInterval = defaultSyncInterval
	}
	root, err := os.MkdirTemp("", "podrunner-")
	if err != nil {
		return fmt.Errorf("creating pod root: %w", err)
	}
	r.root = root
	r.hostPorts = make(map[int32]int)

	loopCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.loopDone = make(chan struct{})

	deploy, err := r.waitForDeployment(ctx)
	if err == nil {
		err = r.startPod(ctx, deploy)
	}
	if err != nil {
		close(r.loopDone)
		return errors.Join(err, r.Stop())
	}
	go r.syncLoop(loopCtx)
	return nil
}

// Root returns the directory that replaces the container's root file
// system, so a mount path P is the directory Root()+P.
func (r *PodRunner) Root() string { return r.root }

// Logs returns the process's combined standard output and standard error,
// at most the last 4 MiB of it.
func (r *PodRunner) Logs() string { return r.logs.String() }

// HostAddress returns the loopback address mapped to a container port, such
// as "127.0.0.1:41234".
func (r *PodRunner) HostAddress(containerPort int32) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	port, ok := r.hostPorts[containerPort]
	if !ok {
		return "", false
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), true
}

// PublicURL returns the base URL of the public port, such as
// "http://127.0.0.1:8080", without a trailing slash.
func (r *PodRunner) PublicURL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pod == nil {
		return ""
	}
	port := r.hostPorts[r.pod.spec.publicPort]
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// Stop ends the sync loop and the process (SIGTERM, then SIGKILL after 10
// seconds), marks the Deployment unavailable, and removes the root.
func (r *PodRunner) Stop() error {
	if r.cancel != nil {
		r.cancel()
		<-r.loopDone
	}

	r.mu.Lock()
	pod := r.pod
	r.mu.Unlock()
	var errs []error
	if pod != nil {
		errs = append(errs, r.stopProcess(pod))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, r.writeStatus(ctx, replicaStatus{}))
		cancel()
	}
	if r.root != "" {
		errs = append(errs, os.RemoveAll(r.root))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stopping pod of deployment %s: %w", r.Deployment, err)
	}
	return nil
}

func (r *PodRunner) waitForDeployment(ctx context.Context) (*appsv1.Deployment, error) {
	for {
		var deploy appsv1.Deployment
		err := r.Client.Get(ctx, r.Deployment, &deploy)
		if err == nil {
			return &deploy, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("getting deployment %s: %w", r.Deployment, err)
		}
		if err := sleep(ctx, r.SyncInterval); err != nil {
			return nil, fmt.Errorf("waiting for deployment %s: %w", r.Deployment, err)
		}
	}
}

// startPod builds the container spec, lays out the volumes, starts the
// process and waits for readiness.
func (r *PodRunner) startPod(ctx context.Context, deploy *appsv1.Deployment) error {
	if err := checkReplicas(deploy); err != nil {
		return err
	}
	template, err := hashTemplate(&deploy.Spec.Template)
	if err != nil {
		return err
	}
	spec, err := r.waitForContainerSpec(ctx, deploy)
	if err != nil {
		return err
	}
	if err := r.syncVolumes(ctx, spec, true); err != nil {
		return err
	}

	pod, err := r.startProcess(spec, template)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.pod = pod
	r.mu.Unlock()

	if err := r.waitReady(ctx, pod); err != nil {
		return err
	}
	return r.writeStatus(ctx, readyStatus(deploy))
}

// waitForContainerSpec builds the container spec, waiting while a Secret or
// ConfigMap that the env refers to is missing, as kubelet retries a
// container whose config it cannot build yet.
func (r *PodRunner) waitForContainerSpec(ctx context.Context, deploy *appsv1.Deployment) (*containerSpec, error) {
	for {
		spec, err := r.buildContainerSpec(ctx, deploy)
		if err == nil || !apierrors.IsNotFound(err) {
			return spec, err
		}
		if err := sleep(ctx, r.SyncInterval); err != nil {
			return nil, fmt.Errorf("waiting for the env of deployment %s: %w", r.Deployment, err)
		}
	}
}

// checkReplicas rejects Deployments that need more than one process.
func checkReplicas(deploy *appsv1.Deployment) error {
	// NOTE: one process runs for the whole Deployment, which is right for
	// the Memory store's single replica only.
	if deploy.Spec.Replicas != nil && *deploy.Spec.Replicas != 1 {
		return fmt.Errorf("deployment %s/%s has %d replicas; the pod runner runs exactly 1",
			deploy.Namespace, deploy.Name, *deploy.Spec.Replicas)
	}
	return nil
}

func hashTemplate(t *corev1.PodTemplateSpec) (string, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("hashing pod template: %w", err)
	}
	sum := sha256.Sum256(data)
	return fmt.Sprintf("%x", sum[:8]), nil
}

func (r *PodRunner) startProcess(spec *containerSpec, template string) (*podProcess, error) {
	cmd := exec.Command(spec.binary, spec.args...)
	cmd.Env = spec.env
	cmd.Dir = spec.workingDir
	var out io.Writer = &r.logs
	if r.Output != nil {
		out = io.MultiWriter(&r.logs, r.Output)
	}
	cmd.Stdout = out
	cmd.Stderr = out
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec.binary, err)
	}

	pod := &podProcess{spec: spec, cmd: cmd, exited: make(chan struct{}), template: template}
	go func() {
		pod.exitErr = cmd.Wait()
		close(pod.exited)
	}()
	return pod, nil
}

func (r *PodRunner) stopProcess(pod *podProcess) error {
	select {
	case <-pod.exited:
		return nil
	default:
	}
	if err := pod.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling process %d: %w", pod.cmd.Process.Pid, err)
	}
	select {
	case <-pod.exited:
		return nil
	case <-time.After(stopGracePeriod):
	}
	if err := pod.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing process %d: %w", pod.cmd.Process.Pid, err)
	}
	<-pod.exited
	return nil
}

// waitReady polls the readiness probe until it passes, the process exits
// or ctx ends.
func (r *PodRunner) waitReady(ctx context.Context, pod *podProcess) error {
	for {
		if probe(ctx, pod.spec.readinessURL) {
			return nil
		}
		select {
		case <-pod.exited:
			return fmt.Errorf("process %s exited before it was ready: %v\n%s",
				pod.spec.binary, pod.exitErr, r.Logs())
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to be ready: %w\n%s",
				pod.spec.readinessURL, ctx.Err(), r.Logs())
		case <-time.After(probeInterval):
		}
	}
}

// probeClient skips certificate checks on HTTPS probes, as kubelet does.
var probeClient = &http.Client{
	Timeout: time.Second,
	Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet's probe behaviour
	},
}

// probe reports whether a GET of url returns a status in 200-399, which is
// kubelet's rule for HTTP probes.
func probe(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

// syncLoop keeps the pod in step with the cluster until ctx ends.
func (r *PodRunner) syncLoop(ctx context.Context) {
	defer close(r.loopDone)
	for {
		if err := sleep(ctx, r.SyncInterval); err != nil {
			return
		}
		if err := r.syncOnce(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(&r.logs, "podrunner: %v\n", err)
		}
	}
}

// syncOnce rolls the pod when the Deployment's pod template changed,
// updates the Secret and ConfigMap volumes, and writes the status that
// the readiness probe and the process's state give.
func (r *PodRunner) syncOnce(ctx context.Context) error {
	var deploy appsv1.Deployment
	if err := r.Client.Get(ctx, r.Deployment, &deploy); err != nil {
		return fmt.Errorf("getting deployment %s: %w", r.Deployment, err)
	}
	r.mu.Lock()
	pod := r.pod
	r.mu.Unlock()

	template, err := hashTemplate(&deploy.Spec.Template)
	if err != nil {
		return err
	}
	if template != pod.template {
		return r.rollPod(ctx, &deploy, pod)
	}

	if err := r.syncVolumes(ctx, pod.spec, false); err != nil {
		return err
	}

	want := readyStatus(&deploy)
	select {
	case <-pod.exited:
		want = replicaStatus{observedGeneration: deploy.Generation}
	default:
		if !probe(ctx, pod.spec.readinessURL) {
			want = replicaStatus{observedGeneration: deploy.Generation, replicas: 1, updated: 1}
		}
	}
	return r.writeStatus(ctx, want)
}

// rollPod replaces the process after a pod template change, the way the
// Recreate strategy does: the old process stops before the new one starts.
func (r *PodRunner) rollPod(ctx context.Context, deploy *appsv1.Deployment, old *podProcess) error {
	fmt.Fprintf(&r.logs, "podrunner: pod template of %s changed, restarting\n", r.Deployment)
	if err := r.stopProcess(old); err != nil {
		return err
	}
	if err := r.writeStatus(ctx, replicaStatus{observedGeneration: deploy.Generation}); err != nil {
		return err
	}
	if err := os.RemoveAll(r.root); err != nil {
		return fmt.Errorf("clearing pod root: %w", err)
	}
	if err := os.MkdirAll(r.root, 0o755); err != nil {
		return fmt.Errorf("creating pod root: %w", err)
	}
	return r.startPod(ctx, deploy)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// logBuffer is a concurrency-safe buffer that keeps the last maxLogBytes.
type logBuffer struct {
	mu   sync.Mutex
	data []byte
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data = append(b.data, p...)
	if excess := len(b.data) - maxLogBytes; excess > 0 {
		b.data = append(b.data[:0], b.data[excess:]...)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.data)
}

// sortedPorts returns the keys of m in increasing order.
func sortedPorts(m map[int32]bool) []int32 {
	ports := make([]int32, 0, len(m))
	for p := range m {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	return ports
}

// portNumber resolves a probe's port, a number or a container port name.
func portNumber(port intstr.IntOrString, ports []corev1.ContainerPort) (int32, error) {
	if port.Type == intstr.Int {
		return port.IntVal, nil
	}
	for _, p := range ports {
		if p.Name == port.StrVal {
			return p.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("readiness probe names port %q, which the container does not declare", port.StrVal)
}
