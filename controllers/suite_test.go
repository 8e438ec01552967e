package controllers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/controllers"
	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/render"
)

const testImage = "ghcr.io/deviceauth/deviceauth-operator:envtest"

// testNow is the fake clock's time. Condition times have whole seconds.
var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

var (
	scheme = runtime.NewScheme()

	// k8sClient talks to the API server directly, without a cache, so that
	// assertions see what is stored.
	k8sClient client.Client

	// mgr runs both reconcilers for the whole suite.
	mgr manager.Manager

	restConfig *rest.Config
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: build the control plane with hack/controlplane.sh, "+
			"then export KUBEBUILDER_ASSETS=$PWD/bin/controlplane")
		return 1
	}
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))

	// Eventually polls the API server until the reconcilers catch up. The
	// timeout only bounds a hung test: the machine running it may be slow
	// and shared, and no assertion depends on how fast it is.
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)

	testEnv := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	restConfig, err = testEnv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()

	k8sClient, err = client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating client:", err)
		return 1
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr, err = ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating manager:", err)
		return 1
	}
	err = controllers.SetupWithManager(ctx, mgr, controllers.Options{
		ServerImage: testImage,
		Clock:       clocktesting.NewFakePassiveClock(testNow),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "setting up controllers:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()

	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager stopped:", err)
		return 1
	}
	return code
}

// zapLevel is the log level of the manager during tests: errors only,
// unless TEST_VERBOSE is set.
func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// newNamespace creates a namespace of its own for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	NewWithT(t).Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	NewWithT(t).Expect(k8sClient.Create(context.Background(), obj)).To(Succeed())
}

func newUsersSecret(namespace string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "users"},
		Data: map[string][]byte{
			config.HtpasswdFileName: []byte("dev:$2y$05$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234\n"),
		},
	}
}

func newServer(namespace, name string) *v1alpha1.DeviceAuthServer {
	return &v1alpha1.DeviceAuthServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1alpha1.DeviceAuthServerSpec{
			IssuerURL: "http://127.0.0.1:8080",
			Replicas:  ptr.To[int32](1),
			UserAuthentication: v1alpha1.UserAuthenticationSpec{
				Static: &v1alpha1.StaticUserAuthentication{SecretName: "users"},
			},
		},
	}
}

func newClient(namespace, name, server string) *v1alpha1.DeviceAuthClient {
	return &v1alpha1.DeviceAuthClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1alpha1.DeviceAuthClientSpec{
			ServerRef: v1alpha1.ServerReference{Name: server},
		},
	}
}

// startServer creates the users Secret and a server in namespace.
func startServer(t *testing.T, namespace, name string) *v1alpha1.DeviceAuthServer {
	t.Helper()
	create(t, newUsersSecret(namespace))
	server := newServer(namespace, name)
	create(t, server)
	return server
}

func key(obj client.Object) types.NamespacedName { return client.ObjectKeyFromObject(obj) }

// update reads obj, applies mutate to it and writes it back, starting over
// when a reconciler's write in between makes the update conflict.
func update(t *testing.T, obj client.Object, mutate func()) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(context.Background(), key(obj), obj); err != nil {
			return err
		}
		mutate()
		return k8sClient.Update(context.Background(), obj)
	})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
}

// expectCondition waits until obj has the condition with status and reason,
// and returns the object as last read.
func expectCondition[T client.Object](
	t *testing.T,
	obj T,
	conditionType string,
	status metav1.ConditionStatus,
	reason string,
) *metav1.Condition {
	t.Helper()
	var found *metav1.Condition
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), key(obj), obj)).To(Succeed())
		found = meta.FindStatusCondition(conditionsOf(obj), conditionType)
		g.Expect(found).NotTo(BeNil(), "condition %s not set", conditionType)
		g.Expect(found.Reason).To(Equal(reason), "message: %s", found.Message)
		g.Expect(found.Status).To(Equal(status))
	}).Should(Succeed())
	return found
}

func conditionsOf(obj client.Object) []metav1.Condition {
	switch o := obj.(type) {
	case *v1alpha1.DeviceAuthServer:
		return o.Status.Conditions
	case *v1alpha1.DeviceAuthClient:
		return o.Status.Conditions
	}
	panic(fmt.Sprintf("no conditions on %T", obj))
}

// renderedConfig reads and parses the server's config Secret.
func renderedConfig(g Gomega, server *v1alpha1.DeviceAuthServer) (*config.Config, *corev1.Secret) {
	secret := &corev1.Secret{}
	name := types.NamespacedName{Namespace: server.Namespace, Name: render.ConfigSecretName(server)}
	g.Expect(k8sClient.Get(context.Background(), name, secret)).To(Succeed())
	cfg, err := config.Parse(secret.Data[config.FileName])
	g.Expect(err).NotTo(HaveOccurred())
	return cfg, secret
}

func configClient(cfg *config.Config, clientID string) *config.Client {
	for i := range cfg.Clients {
		if cfg.Clients[i].ClientID == clientID {
			return &cfg.Clients[i]
		}
	}
	return nil
}

func sha256Hex(value []byte) string {
	sum := sha256.Sum256(value)
	return hex.EncodeToString(sum[:])
}

// markDeploymentAvailable writes the status the deployment controller would
// write once every replica of the server's Deployment is available.
func markDeploymentAvailable(t *testing.T, server *v1alpha1.DeviceAuthServer) {
	t.Helper()
	g := NewWithT(t)
	g.Eventually(func(g Gomega) {
		deployment := &appsv1.Deployment{}
		name := types.NamespacedName{Namespace: server.Namespace, Name: render.DeploymentName(server)}
		g.Expect(k8sClient.Get(context.Background(), name, deployment)).To(Succeed())
		replicas := *deployment.Spec.Replicas
		deployment.Status = appsv1.DeploymentStatus{
			ObservedGeneration: deployment.Generation,
			Replicas:           replicas,
			UpdatedReplicas:    replicas,
			ReadyReplicas:      replicas,
			AvailableReplicas:  replicas,
		}
		g.Expect(k8sClient.Status().Update(context.Background(), deployment)).To(Succeed())
	}).Should(Succeed())
}

// writeCounter counts the writes a reconciler sends through it.
type writeCounter struct {
	client.Client
	writes atomic.Int32
}

func (c *writeCounter) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.writes.Add(1)
	return c.Client.Create(ctx, obj, opts...)
}

func (c *writeCounter) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.writes.Add(1)
	return c.Client.Update(ctx, obj, opts...)
}

func (c *writeCounter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.writes.Add(1)
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *writeCounter) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.writes.Add(1)
	return c.Client.Apply(ctx, obj, opts...)
}

func (c *writeCounter) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.writes.Add(1)
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *writeCounter) Status() client.SubResourceWriter {
	return &statusWriteCounter{SubResourceWriter: c.Client.Status(), writes: &c.writes}
}

type statusWriteCounter struct {
	client.SubResourceWriter
	writes *atomic.Int32
}

func (c *statusWriteCounter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	c.writes.Add(1)
	return c.SubResourceWriter.Update(ctx, obj, opts...)
}

func (c *statusWriteCounter) Patch(
	ctx context.Context,
	obj client.Object,
	patch client.Patch,
	opts ...client.SubResourcePatchOption,
) error {
	c.writes.Add(1)
	return c.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

func (c *statusWriteCounter) Apply(
	ctx context.Context,
	obj runtime.ApplyConfiguration,
	opts ...client.SubResourceApplyOption,
) error {
	c.writes.Add(1)
	return c.SubResourceWriter.Apply(ctx, obj, opts...)
}
