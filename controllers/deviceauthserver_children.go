package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/keys"
	"github.com/deviceauth/deviceauth-operator/internal/render"
)

// serverObservation is the outcome of reconciling a server's children, the
// input of its status.
type serverObservation struct {
	// deployment is the Deployment as last read or applied; nil when it
	// could not be applied.
	deployment *appsv1.Deployment

	// clients is the number of clients in the config Secret, or -1 when the
	// Secret kept its previous config.
	clients int32

	// configReason and configMessage explain why the config was not
	// rendered, when it was not.
	configReason  string
	configMessage string

	// usersReason and usersMessage explain what is wrong with the htpasswd
	// Secret, when something is.
	usersReason  string
	usersMessage string

	// err is the first failure to apply a child. It makes Ready false and
	// is returned from Reconcile, which retries with backoff.
	err error
}

// reconcileChildren applies each child of server, going on past failures so
// that one broken child does not hold back the others.
func (r *DeviceAuthServerReconciler) reconcileChildren(ctx context.Context, server *v1alpha1.DeviceAuthServer) serverObservation {
	observed := serverObservation{clients: -1}
	fail := func(err error) {
		if observed.err == nil {
			observed.err = err
		}
	}

	if _, err := r.apply(ctx, server, render.ServiceAccount(server), &corev1.ServiceAccount{}); err != nil {
		fail(err)
	}
	if err := r.reconcileConfig(ctx, server, &observed); err != nil {
		fail(err)
	}
	if err := r.ensureKeys(ctx, server); err != nil {
		fail(err)
	}
	observed.usersReason, observed.usersMessage = r.checkUsersSecret(ctx, server)

	deployment := &appsv1.Deployment{}
	if _, err := r.apply(ctx, server, render.Deployment(server, r.ServerImage), deployment); err != nil {
		fail(err)
	} else {
		observed.deployment = deployment
	}
	if _, err := r.apply(ctx, server, render.Service(server), &corev1.Service{}); err != nil {
		fail(err)
	}
	return observed
}

func (r *DeviceAuthServerReconciler) apply(
	ctx context.Context,
	server *v1alpha1.DeviceAuthServer,
	desired, live client.Object,
) (bool, error) {
	applied, err := applyChild(ctx, r.Client, r.Scheme, server, desired, live)
	if applied {
		ctrl.LoggerFrom(ctx).V(1).Info("Applied child object",
			"kind", desired.GetObjectKind().GroupVersionKind().Kind, "name", desired.GetName())
	}
	return applied, err
}

// reconcileConfig renders the accepted clients into the config Secret. A
// config over the size limit leaves the Secret as it was, so running pods
// keep serving the clients they have.
func (r *DeviceAuthServerReconciler) reconcileConfig(
	ctx context.Context,
	server *v1alpha1.DeviceAuthServer,
	observed *serverObservation,
) error {
	verdicts, err := resolveServerClients(ctx, r.Client, server)
	if err != nil {
		observed.configReason, observed.configMessage = v1alpha1.ReasonReconcileFailed, err.Error()
		return err
	}
	cfg, err := render.Config(server, verdicts)
	if err != nil {
		observed.configReason, observed.configMessage = v1alpha1.ReasonInvalidSpec, err.Error()
		return nil
	}
	data, err := render.ConfigSecretData(cfg)
	if render.IsConfigTooLarge(err) {
		observed.configReason, observed.configMessage = v1alpha1.ReasonConfigTooLarge, err.Error()
		return nil
	}
	if err != nil {
		observed.configReason, observed.configMessage = v1alpha1.ReasonReconcileFailed, err.Error()
		return err
	}

	if _, err := r.apply(ctx, server, render.ConfigSecret(server, data), &corev1.Secret{}); err != nil {
		observed.configReason, observed.configMessage = v1alpha1.ReasonReconcileFailed, err.Error()
		return err
	}
	observed.clients = int32(len(cfg.Clients))
	return nil
}

// ensureKeys creates the keys Secret when it does not exist. It never
// updates it: new keys would invalidate every issued token and session.
func (r *DeviceAuthServerReconciler) ensureKeys(ctx context.Context, server *v1alpha1.DeviceAuthServer) error {
	key := types.NamespacedName{Namespace: server.Namespace, Name: render.KeysSecretName(server)}
	created, err := createSecretOnce(ctx, r.Client, r.Scheme, server, key, func() (*corev1.Secret, error) {
		set, err := keys.Generate()
		if err != nil {
			return nil, fmt.Errorf("generating keys for DeviceAuthServer %s/%s: %w", server.Namespace, server.Name, err)
		}
		return render.KeysSecret(server, set.SecretData()), nil
	})
	if created {
		ctrl.LoggerFrom(ctx).Info("Generated server keys", "secret", key)
	}
	return err
}

// checkUsersSecret returns a reason and message when the htpasswd Secret is
// missing or has no users.
func (r *DeviceAuthServerReconciler) checkUsersSecret(
	ctx context.Context,
	server *v1alpha1.DeviceAuthServer,
) (reason, message string) {
	name := render.UsersSecretName(server)
	if name == "" {
		return v1alpha1.ReasonInvalidSpec, "spec.userAuthentication.static.secretName is not set"
	}
	secret := &corev1.Secret{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: server.Namespace, Name: name}, secret)
	if apierrors.IsNotFound(err) {
		return v1alpha1.ReasonUsersSecretNotFound, fmt.Sprintf(
			"Secret %q not found in namespace %q: create it with the key %q holding htpasswd -B lines",
			name, server.Namespace, config.HtpasswdFileName)
	}
	if err != nil {
		return v1alpha1.ReasonReconcileFailed, fmt.Sprintf("reading Secret %q: %v", name, err)
	}
	if len(secret.Data[config.HtpasswdFileName]) == 0 {
		return v1alpha1.ReasonInvalidUsersSecret, fmt.Sprintf(
			"Secret %q has no key %q or it is empty: put htpasswd -B lines under that key",
			name, config.HtpasswdFileName)
	}
	return "", ""
}
