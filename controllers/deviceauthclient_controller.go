package controllers

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/render"
)

// DeviceAuthClientReconciler reports on a DeviceAuthClient: whether its
// server accepts it, the values in force, and whether the server's rendered
// config contains it. For a Confidential client without spec.secretName it
// generates the <name>-client-secret Secret once.
type DeviceAuthClientReconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Clock    clock.PassiveClock

	// configs caches the parsed config of each server, so that the clients
	// of a large server do not each decode the same config Secret.
	configs renderedConfigs
}

// +kubebuilder:rbac:groups=deviceauth.dev,resources=deviceauthclients,verbs=get;list;watch
// +kubebuilder:rbac:groups=deviceauth.dev,resources=deviceauthclients/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=deviceauth.dev,resources=deviceauthservers,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings the generated Secret and the status of one
// DeviceAuthClient up to date.
func (r *DeviceAuthClientReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	deviceClient := &v1alpha1.DeviceAuthClient{}
	if err := r.Client.Get(ctx, req.NamespacedName, deviceClient); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !deviceClient.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	secretErr := r.ensureGeneratedSecret(ctx, deviceClient)
	verdict, server, err := r.resolve(ctx, deviceClient)
	if err != nil {
		return ctrl.Result{}, err
	}
	rendered := r.checkRendered(ctx, server, verdict)
	conflicted, err := r.updateStatus(ctx, deviceClient, verdict, rendered)
	if err != nil {
		return ctrl.Result{}, err
	}
	if conflicted && secretErr == nil {
		return ctrl.Result{RequeueAfter: conflictRetryDelay}, nil
	}
	return ctrl.Result{}, secretErr
}

// ensureGeneratedSecret creates <name>-client-secret for a Confidential
// client without spec.secretName, unless it exists. It never changes an
// existing Secret, whatever it holds.
func (r *DeviceAuthClientReconciler) ensureGeneratedSecret(ctx context.Context, c *v1alpha1.DeviceAuthClient) error {
	if c.Spec.ClientType != v1alpha1.ClientTypeConfidential || c.Spec.SecretName != "" {
		return nil
	}
	key := types.NamespacedName{Namespace: c.Namespace, Name: render.GeneratedClientSecretName(c)}
	created, err := createSecretOnce(ctx, r.Client, r.Scheme, c, key, func() (*corev1.Secret, error) {
		return render.GeneratedClientSecret(c, render.GenerateClientSecret()), nil
	})
	if created {
		ctrl.LoggerFrom(ctx).Info("Generated client secret", "secret", key)
	}
	return err
}

// resolve returns the client's verdict and its server, nil when the server
// does not exist.
func (r *DeviceAuthClientReconciler) resolve(
	ctx context.Context,
	c *v1alpha1.DeviceAuthClient,
) (render.ClientVerdict, *v1alpha1.DeviceAuthServer, error) {
	server := &v1alpha1.DeviceAuthServer{}
	err := r.Client.Get(ctx, render.ServerRef(c), server)
	if apierrors.IsNotFound(err) {
		return render.ServerNotFoundVerdict(c), nil, nil
	}
	if err != nil {
		return render.ClientVerdict{}, nil, fmt.Errorf("reading DeviceAuthServer %s: %w", render.ServerRef(c), err)
	}

	verdicts, err := resolveServerClients(ctx, r.Client, server)
	if err != nil {
		return render.ClientVerdict{}, nil, err
	}
	key := client.ObjectKeyFromObject(c)
	for _, verdict := range verdicts {
		if verdict.Client == key {
			return verdict, server, nil
		}
	}
	// The index and the object come from the same cache, so the cache
	// changed between the two reads. The event of that change retries.
	return render.ClientVerdict{}, nil, fmt.Errorf("DeviceAuthClient %s is missing from the clients of DeviceAuthServer %s",
		key, render.ServerRef(c))
}

// SetupWithManager registers the reconciler and its watches with mgr. It
// needs the field indexes that the package's SetupWithManager registers.
func (r *DeviceAuthClientReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("deviceauthclient").
		// Status updates trigger a reconcile too: one that skipped its write
		// because it read a stale copy from the cache runs again once the
		// cache holds the stored status.
		For(&v1alpha1.DeviceAuthClient{}).
		Owns(&corev1.Secret{}).
		Watches(&v1alpha1.DeviceAuthClient{},
			handler.EnqueueRequestsFromMapFunc(r.siblings),
			builder.WithPredicates(claimChanged{})).
		Watches(&v1alpha1.DeviceAuthServer{},
			handler.EnqueueRequestsFromMapFunc(r.clientsOfServer),
			builder.WithPredicates(serverChanged{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.clientsUsingSecret)).
		Complete(r)
}

// siblings maps a client to the other clients of its server, whose
// clientID claims it may change.
func (r *DeviceAuthClientReconciler) siblings(ctx context.Context, obj client.Object) []ctrl.Request {
	deviceClient, ok := obj.(*v1alpha1.DeviceAuthClient)
	if !ok {
		return nil
	}
	return clientsOfServer(ctx, r.Client, render.ServerRef(deviceClient))
}

func (r *DeviceAuthClientReconciler) clientsOfServer(ctx context.Context, obj client.Object) []ctrl.Request {
	return clientsOfServer(ctx, r.Client, client.ObjectKeyFromObject(obj))
}

// clientsUsingSecret maps a Secret to the clients whose secret it holds,
// and a server's config Secret to all clients of that server.
func (r *DeviceAuthClientReconciler) clientsUsingSecret(ctx context.Context, obj client.Object) []ctrl.Request {
	if owner := metav1.GetControllerOf(obj); owner != nil &&
		owner.Kind == "DeviceAuthServer" && owner.APIVersion == v1alpha1.GroupVersion.String() {
		server := &v1alpha1.DeviceAuthServer{ObjectMeta: metav1.ObjectMeta{Name: owner.Name}}
		if obj.GetName() == render.ConfigSecretName(server) {
			return clientsOfServer(ctx, r.Client, types.NamespacedName{Namespace: obj.GetNamespace(), Name: owner.Name})
		}
		return nil
	}

	var list v1alpha1.DeviceAuthClientList
	err := r.Client.List(ctx, &list,
		client.InNamespace(obj.GetNamespace()),
		client.MatchingFields{indexClientSecret: obj.GetName()},
	)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing clients by Secret failed", "secret", client.ObjectKeyFromObject(obj))
		return nil
	}
	requests := make([]ctrl.Request, 0, len(list.Items))
	for _, item := range list.Items {
		requests = append(requests, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&item)})
	}
	return requests
}

// claimChanged passes the client events that can change which client holds
// a clientID: creation, deletion, and a change of server, clientID or
// deletion timestamp.
type claimChanged struct {
	predicate.Funcs
}

func (claimChanged) Create(event.CreateEvent) bool { return true }
func (claimChanged) Delete(event.DeleteEvent) bool { return true }

func (claimChanged) Update(e event.UpdateEvent) bool {
	oldClient, okOld := e.ObjectOld.(*v1alpha1.DeviceAuthClient)
	newClient, okNew := e.ObjectNew.(*v1alpha1.DeviceAuthClient)
	if !okOld || !okNew {
		return false
	}
	return render.ServerRef(oldClient) != render.ServerRef(newClient) ||
		render.ClientID(oldClient) != render.ClientID(newClient) ||
		oldClient.DeletionTimestamp.IsZero() != newClient.DeletionTimestamp.IsZero()
}

func (claimChanged) Generic(event.GenericEvent) bool { return false }

// serverChanged passes the server events that can change its clients'
// status: creation, deletion, a spec change, and a change of the Ready
// reason, which a client's ConfigPending message repeats.
type serverChanged struct {
	predicate.Funcs
}

func (serverChanged) Update(e event.UpdateEvent) bool {
	oldServer, okOld := e.ObjectOld.(*v1alpha1.DeviceAuthServer)
	newServer, okNew := e.ObjectNew.(*v1alpha1.DeviceAuthServer)
	if !okOld || !okNew {
		return false
	}
	return oldServer.Generation != newServer.Generation || readyReason(oldServer) != readyReason(newServer)
}

func readyReason(server *v1alpha1.DeviceAuthServer) string {
	if ready := meta.FindStatusCondition(server.Status.Conditions, v1alpha1.ConditionReady); ready != nil {
		return ready.Reason
	}
	return ""
}

// renderedConfigs caches the client entries of each server's config Secret
// by the Secret's resourceVersion.
type renderedConfigs struct {
	mu      sync.Mutex
	servers map[types.NamespacedName]renderedConfig
}
