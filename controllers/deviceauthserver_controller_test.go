package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/controllers"
	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/render"
)

// serverChildren returns empty objects named like each child of server.
func serverChildren(server *v1alpha1.DeviceAuthServer) map[string]client.Object {
	at := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: server.Namespace, Name: name}
	}
	return map[string]client.Object{
		"ServiceAccount": &corev1.ServiceAccount{ObjectMeta: at(render.ServiceAccountName(server))},
		"config Secret":  &corev1.Secret{ObjectMeta: at(render.ConfigSecretName(server))},
		"keys Secret":    &corev1.Secret{ObjectMeta: at(render.KeysSecretName(server))},
		"Deployment":     &appsv1.Deployment{ObjectMeta: at(render.DeploymentName(server))},
		"Service":        &corev1.Service{ObjectMeta: at(render.ServiceName(server))},
	}
}

func TestServerCreatesOwnedChildren(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	server := startServer(t, ns, "login")

	for what, child := range serverChildren(server) {
		g.Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(context.Background(), key(child), child)).To(Succeed())
		}).Should(Succeed(), what)
		g.Expect(k8sClient.Get(context.Background(), key(server), server)).To(Succeed())
		owner := metav1.GetControllerOf(child)
		g.Expect(owner).NotTo(BeNil(), "%s has no controller", what)
		g.Expect(owner.Kind).To(Equal("DeviceAuthServer"), what)
		g.Expect(owner.UID).To(Equal(server.UID), what)
		g.Expect(child.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "deviceauth-operator"), what)
	}

	deployment := &appsv1.Deployment{}
	g.Expect(k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "login"}, deployment)).To(Succeed())
	container := deployment.Spec.Template.Spec.Containers[0]
	g.Expect(container.Image).To(Equal(testImage))
	g.Expect(container.Command).To(Equal([]string{"/server"}))
	g.Expect(container.Args).To(ContainElement("--storage=memory"))
	g.Expect(deployment.Spec.Strategy.Type).To(Equal(appsv1.RecreateDeploymentStrategyType))
	g.Expect(deployment.Spec.Template.Spec.AutomountServiceAccountToken).To(Equal(ptr.To(false)))

	keys := &corev1.Secret{}
	g.Expect(k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "login-keys"}, keys)).To(Succeed())
	g.Expect(keys.Data).To(HaveKey(config.SigningKeyFile))
	g.Expect(keys.Data).To(HaveKey(config.SessionKeyFile))

	g.Eventually(func(g Gomega) {
		cfg, _ := renderedConfig(g, server)
		g.Expect(cfg.Issuer).To(Equal("http://127.0.0.1:8080"))
		g.Expect(cfg.Clients).To(BeEmpty())
	}).Should(Succeed())

	ready := expectCondition(t, server, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonDeploymentPending)
	g.Expect(ready.ObservedGeneration).To(Equal(server.Generation))
	g.Expect(ready.LastTransitionTime.Time).To(BeTemporally("==", testNow), "the injected clock stamps conditions")
	g.Expect(server.Status.ObservedGeneration).To(Equal(server.Generation))
	g.Expect(server.Status.ConfigSecretName).To(Equal("login-config"))
	g.Expect(server.Status.IssuerURL).To(Equal("http://127.0.0.1:8080"))
}

func TestServerReadyWhenDeploymentAvailable(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	server := startServer(t, ns, "login")
	expectCondition(t, server, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonDeploymentPending)

	markDeploymentAvailable(t, server)

	ready := expectCondition(t, server, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	g.Expect(ready.Message).To(ContainSubstring("1 of 1 replicas available"))
	g.Expect(server.Status.AvailableReplicas).To(Equal(int32(1)))
	g.Eventually(func(g Gomega) {
		g.Expect(eventReasons(g, ns, "DeviceAuthServer", "login")).To(ContainElements(
			v1alpha1.ReasonDeploymentPending, v1alpha1.ReasonReady))
	}).Should(Succeed())
}

// eventReasons lists the reasons of the events about one object.
func eventReasons(g Gomega, namespace, kind, name string) []string {
	var list eventsv1.EventList
	g.Expect(k8sClient.List(context.Background(), &list, client.InNamespace(namespace))).To(Succeed())
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

func TestServerUsersSecretNotFound(t *testing.T) {
	ns := newNamespace(t)
	server := newServer(ns, "login")
	create(t, server)

	ready := expectCondition(t, server, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonUsersSecretNotFound)
	NewWithT(t).Expect(ready.Message).To(ContainSubstring(`Secret "users" not found`))

	empty := newUsersSecret(ns)
	empty.Data = nil
	create(t, empty)
	expectCondition(t, server, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidUsersSecret)

	NewWithT(t).Expect(k8sClient.Delete(context.Background(), empty)).To(Succeed())
	create(t, newUsersSecret(ns))
	expectCondition(t, server, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonDeploymentPending)
}

// reconcileCountingWrites runs one reconcile of a fresh reconciler over the
// manager's cache and returns the number of API writes it sent.
func reconcileCountingWrites(t *testing.T, reconcile func(client.Client) error) int32 {
	t.Helper()
	counter := &writeCounter{Client: mgr.GetClient()}
	NewWithT(t).Expect(reconcile(counter)).To(Succeed())
	return counter.writes.Load()
}

func resourceVersions(g Gomega, objects map[string]client.Object) map[string]string {
	versions := make(map[string]string, len(objects))
	for what, obj := range objects {
		g.Expect(k8sClient.Get(context.Background(), key(obj), obj)).To(Succeed())
		versions[what] = obj.GetResourceVersion()
	}
	return versions
}

func TestServerSecondReconcileWritesNothing(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	server := startServer(t, ns, "login")
	deviceClient := newClient(ns, "cli", "login")
	create(t, deviceClient)
	markDeploymentAvailable(t, server)
	expectCondition(t, server, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	expectCondition(t, deviceClient, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	reconcileServer := func(c client.Client) error {
		r := &controllers.DeviceAuthServerReconciler{
			Client:      c,
			Scheme:      mgr.GetScheme(),
			Recorder:    mgr.GetEventRecorder("test"),
			Clock:       clocktesting.NewFakePassiveClock(testNow),
			ServerImage: testImage,
		}
		_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key(server)})
		return err
	}
	reconcileClient := func(c client.Client) error {
		r := &controllers.DeviceAuthClientReconciler{
			Client:   c,
			Scheme:   mgr.GetScheme(),
			Recorder: mgr.GetEventRecorder("test"),
			Clock:    clocktesting.NewFakePassiveClock(testNow),
		}
		_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key(deviceClient)})
		return err
	}

	// Wait until the manager's cache holds what the running reconcilers
	// wrote; until then a reconcile may see stale objects.
	g.Eventually(func(g Gomega) {
		g.Expect(reconcileCountingWrites(t, reconcileServer)).To(BeZero())
		g.Expect(reconcileCountingWrites(t, reconcileClient)).To(BeZero())
	}).Should(Succeed())

	objects := serverChildren(server)
	objects["server"] = &v1alpha1.DeviceAuthServer{ObjectMeta: server.ObjectMeta}
	objects["client"] = &v1alpha1.DeviceAuthClient{ObjectMeta: deviceClient.ObjectMeta}
	before := resourceVersions(g, objects)

	g.Expect(reconcileCountingWrites(t, reconcileServer)).To(BeZero(), "server reconcile")
	g.Expect(reconcileCountingWrites(t, reconcileClient)).To(BeZero(), "client reconcile")
	g.Expect(resourceVersions(g, objects)).To(Equal(before))
}

func TestServerNeverRegeneratesKeys(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	server := startServer(t, ns, "login")
	keys := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "login-keys"}}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), key(keys), keys)).To(Succeed())
	}).Should(Succeed())
	generated := keys.Data

	// Neither a spec change nor a lost config Secret touches the keys.
	update(t, server, func() {
		server.Spec.Replicas = ptr.To[int32](0)
	})
	configSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "login-config"}}
	g.Expect(k8sClient.Delete(context.Background(), configSecret)).To(Succeed())
	g.Eventually(func(g Gomega) {
		deployment := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "login"}, deployment)).To(Succeed())
		g.Expect(*deployment.Spec.Replicas).To(BeZero())
		g.Expect(k8sClient.Get(context.Background(), key(configSecret), configSecret)).To(Succeed())
	}).Should(Succeed())
	g.Expect(k8sClient.Get(context.Background(), key(keys), keys)).To(Succeed())
	g.Expect(keys.Data).To(Equal(generated))

	// Keys someone rotated by hand stay as they are.
	keys.Data = map[string][]byte{config.SessionKeyFile: []byte("rotated by hand")}
	g.Expect(k8sClient.Update(context.Background(), keys)).To(Succeed())
	update(t, server, func() {
		server.Spec.Replicas = ptr.To[int32](1)
	})
	g.Eventually(func(g Gomega) {
		deployment := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "login"}, deployment)).To(Succeed())
		g.Expect(*deployment.Spec.Replicas).To(Equal(int32(1)))
	}).Should(Succeed())
	g.Expect(k8sClient.Get(context.Background(), key(keys), keys)).To(Succeed())
	g.Expect(keys.Data).To(Equal(map[string][]byte{config.SessionKeyFile: []byte("rotated by hand")}))
}

func TestServerConfigChangeKeepsPodTemplate(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	server := startServer(t, ns, "login")
	deployment := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "login"}}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), key(deployment), deployment)).To(Succeed())
	}).Should(Succeed())
	generation := deployment.Generation

	create(t, newClient(ns, "cli", "login"))
	g.Eventually(func(g Gomega) {
		cfg, _ := renderedConfig(g, server)
		g.Expect(configClient(cfg, "cli")).NotTo(BeNil())
	}).Should(Succeed())

	g.Expect(k8sClient.Get(context.Background(), key(deployment), deployment)).To(Succeed())
	g.Expect(deployment.Generation).To(Equal(generation), "a config change must not roll the pods")
	expectServerClients(t, server, 1)
}

func expectServerClients(t *testing.T, server *v1alpha1.DeviceAuthServer, clients int32) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), key(server), server)).To(Succeed())
		g.Expect(server.Status.Clients).To(Equal(clients))
	}).Should(Succeed())
}

func TestServerSpecChangeUpdatesDeployment(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	server := startServer(t, ns, "login")
	expectCondition(t, server, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonDeploymentPending)

	update(t, server, func() {
		server.Spec.Image = "registry.example.com/server:v2"
		server.Spec.NodeSelector = map[string]string{"pool": "auth"}
	})
	deployment := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "login"}}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), key(deployment), deployment)).To(Succeed())
		g.Expect(deployment.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/server:v2"))
		g.Expect(deployment.Spec.Template.Spec.NodeSelector).To(Equal(map[string]string{"pool": "auth"}))
	}).Should(Succeed())

	// A field removed from the spec is removed from the Deployment.
	update(t, server, func() {
		server.Spec.NodeSelector = nil
	})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), key(deployment), deployment)).To(Succeed())
		g.Expect(deployment.Spec.Template.Spec.NodeSelector).To(BeEmpty())
	}).Should(Succeed())
}

func TestServerRestoresEditedChild(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	startServer(t, ns, "login")
	deployment := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "login"}}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), key(deployment), deployment)).To(Succeed())
	}).Should(Succeed())

	// An edit by another field manager takes over the image field.
	update(t, deployment, func() {
		deployment.Spec.Template.Spec.Containers[0].Image = "registry.example.com/edited:v0"
	})

	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), key(deployment), deployment)).To(Succeed())
		g.Expect(deployment.Spec.Template.Spec.Containers[0].Image).To(Equal(testImage))
	}).Should(Succeed())
}

func TestServerDeletedIsNotAnError(t *testing.T) {
	g := NewWithT(t)
	r := &controllers.DeviceAuthServerReconciler{
		Client:      mgr.GetClient(),
		Scheme:      mgr.GetScheme(),
		Recorder:    mgr.GetEventRecorder("test"),
		Clock:       clocktesting.NewFakePassiveClock(testNow),
		ServerImage: testImage,
	}
	missing := types.NamespacedName{Namespace: "default", Name: "does-not-exist"}

	result, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: missing})

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result).To(Equal(ctrl.Result{}))
	err = k8sClient.Get(context.Background(), missing, &appsv1.Deployment{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
}

func TestServerRecreatedAdoptsKeys(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	server := startServer(t, ns, "login")
	keys := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "login-keys"}}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), key(keys), keys)).To(Succeed())
	}).Should(Succeed())
	generated := keys.Data
	oldUID := server.UID

	// Without a garbage collector the keys outlive the deleted server, as
	// they do in a cluster when the server is recreated before the
	// collector runs.
	g.Expect(k8sClient.Delete(context.Background(), server)).To(Succeed())
	g.Eventually(func(g Gomega) {
		err := k8sClient.Get(context.Background(), key(server), &v1alpha1.DeviceAuthServer{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	}).Should(Succeed())
	recreated := newServer(ns, "login")
	create(t, recreated)
	g.Expect(recreated.UID).NotTo(Equal(oldUID))

	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), key(keys), keys)).To(Succeed())
		owner := metav1.GetControllerOf(keys)
		g.Expect(owner).NotTo(BeNil())
		g.Expect(owner.UID).To(Equal(recreated.UID))
	}).Should(Succeed())
	g.Expect(keys.OwnerReferences).To(HaveLen(1), "the deleted server's reference is gone")
	g.Expect(keys.Data).To(Equal(generated), "adopting keeps the keys")
}
