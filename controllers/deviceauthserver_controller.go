package controllers

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/render"
)

// DeviceAuthServerReconciler runs a DeviceAuthServer: it renders the config
// of the server's accepted clients into the <name>-config Secret, creates
// the <name>-keys Secret once, applies the ServiceAccount, Deployment and
// Service, and reports Ready once the Deployment has its replicas available.
type DeviceAuthServerReconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Clock    clock.PassiveClock

	// ServerImage is the image of servers without spec.image.
	ServerImage string
}

// +kubebuilder:rbac:groups=deviceauth.dev,resources=deviceauthservers,verbs=get;list;watch
// +kubebuilder:rbac:groups=deviceauth.dev,resources=deviceauthservers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=deviceauth.dev,resources=deviceauthclients,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=serviceaccounts;services,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings the children and status of one DeviceAuthServer up to
// date.
func (r *DeviceAuthServerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	server := &v1alpha1.DeviceAuthServer{}
	if err := r.Client.Get(ctx, req.NamespacedName, server); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !server.DeletionTimestamp.IsZero() {
		// Owner references let the garbage collector delete the children.
		return ctrl.Result{}, nil
	}

	observed := r.reconcileChildren(ctx, server)
	conflicted, err := r.updateStatus(ctx, server, observed)
	if err != nil {
		return ctrl.Result{}, err
	}
	if conflicted && observed.err == nil {
		return ctrl.Result{RequeueAfter: conflictRetryDelay}, nil
	}
	return ctrl.Result{}, observed.err
}

// SetupWithManager registers the reconciler and its watches with mgr. It
// needs the field indexes that the package's SetupWithManager registers.
func (r *DeviceAuthServerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("deviceauthserver").
		// Status updates trigger a reconcile too: one that skipped its write
		// because it read a stale copy from the cache runs again once the
		// cache holds the stored status.
		For(&v1alpha1.DeviceAuthServer{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.Secret{}).
		Watches(&v1alpha1.DeviceAuthClient{}, handler.EnqueueRequestsFromMapFunc(serverOfClient)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.serversUsingSecret)).
		Complete(r)
}

// serverOfClient maps a DeviceAuthClient to the server it references. On
// an update the handler calls it for the old and the new object, so a
// client that moves to another server re-renders both.
func serverOfClient(_ context.Context, obj client.Object) []ctrl.Request {
	deviceClient, ok := obj.(*v1alpha1.DeviceAuthClient)
	if !ok {
		return nil
	}
	return []ctrl.Request{{NamespacedName: render.ServerRef(deviceClient)}}
}

// serversUsingSecret maps a Secret to the servers that read it: as their
// htpasswd Secret, or as the secret of one of their clients.
func (r *DeviceAuthServerReconciler) serversUsingSecret(ctx context.Context, obj client.Object) []ctrl.Request {
	log := ctrl.LoggerFrom(ctx)
	seen := make(map[types.NamespacedName]bool)
	var requests []ctrl.Request
	add := func(key types.NamespacedName) {
		if !seen[key] {
			seen[key] = true
			requests = append(requests, ctrl.Request{NamespacedName: key})
		}
	}

	var servers v1alpha1.DeviceAuthServerList
	err := r.Client.List(ctx, &servers,
		client.InNamespace(obj.GetNamespace()),
		client.MatchingFields{indexServerUsersSecret: obj.GetName()},
	)
	if err != nil {
		log.Error(err, "Listing servers by users Secret failed", "secret", client.ObjectKeyFromObject(obj))
	}
	for _, server := range servers.Items {
		add(client.ObjectKeyFromObject(&server))
	}

	var clients v1alpha1.DeviceAuthClientList
	err = r.Client.List(ctx, &clients,
		client.InNamespace(obj.GetNamespace()),
		client.MatchingFields{indexClientSecret: obj.GetName()},
	)
	if err != nil {
		log.Error(err, "Listing clients by Secret failed", "secret", client.ObjectKeyFromObject(obj))
	}
	for _, c := range clients.Items {
		add(render.ServerRef(&c))
	}
	return requests
}
