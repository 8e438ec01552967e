// Package controllers holds the reconcilers of DeviceAuthServer and
// DeviceAuthClient. Both compute client verdicts with render.ResolveClients
// over the same inputs, so that they always agree on which clients a server
// serves.
package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/render"
)

// Field indexes on the manager's cache.
const (
	// indexClientServer indexes DeviceAuthClients by the "namespace/name"
	// of the server they reference, with an unset namespace resolved.
	indexClientServer = "deviceauth.dev/serverRef"

	// indexClientSecret indexes Confidential DeviceAuthClients by the name
	// of the Secret holding their secret, generated or their own.
	indexClientSecret = "deviceauth.dev/clientSecret"

	// indexServerUsersSecret indexes DeviceAuthServers by the name of their
	// htpasswd Secret.
	indexServerUsersSecret = "deviceauth.dev/usersSecret"
)

// Options configure both reconcilers.
type Options struct {
	// ServerImage is the server image of servers without spec.image.
	ServerImage string

	// Clock stamps condition transition times. Nil means the real clock.
	Clock clock.PassiveClock
}

// SetupWithManager registers the field indexes and both reconcilers with mgr.
func SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if opts.ServerImage == "" {
		return fmt.Errorf("no server image: set Options.ServerImage")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if err := setupIndexes(ctx, mgr); err != nil {
		return err
	}

	servers := &DeviceAuthServerReconciler{
		Client:      mgr.GetClient(),
		Scheme:      mgr.GetScheme(),
		Recorder:    mgr.GetEventRecorder("deviceauthserver-controller"),
		Clock:       opts.Clock,
		ServerImage: opts.ServerImage,
	}
	if err := servers.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up DeviceAuthServer controller: %w", err)
	}

	clients := &DeviceAuthClientReconciler{
		Client:   mgr.GetClient(),
		Scheme:   mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("deviceauthclient-controller"),
		Clock:    opts.Clock,
	}
	if err := clients.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up DeviceAuthClient controller: %w", err)
	}
	return nil
}

func setupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	err := indexer.IndexField(ctx, &v1alpha1.DeviceAuthClient{}, indexClientServer, func(obj client.Object) []string {
		return []string{render.ServerRef(obj.(*v1alpha1.DeviceAuthClient)).String()}
	})
	if err != nil {
		return fmt.Errorf("indexing DeviceAuthClients by server: %w", err)
	}

	err = indexer.IndexField(ctx, &v1alpha1.DeviceAuthClient{}, indexClientSecret, func(obj client.Object) []string {
		if name := render.ClientSecretName(obj.(*v1alpha1.DeviceAuthClient)); name != "" {
			return []string{name}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing DeviceAuthClients by Secret: %w", err)
	}

	err = indexer.IndexField(ctx, &v1alpha1.DeviceAuthServer{}, indexServerUsersSecret, func(obj client.Object) []string {
		if name := render.UsersSecretName(obj.(*v1alpha1.DeviceAuthServer)); name != "" {
			return []string{name}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing DeviceAuthServers by users Secret: %w", err)
	}
	return nil
}

// resolveServerClients lists the clients that reference server, reads the
// Secrets of the Confidential ones and resolves them. Both reconcilers call
// it, so that they compute the same verdicts.
func resolveServerClients(
	ctx context.Context,
	c client.Reader,
	server *v1alpha1.DeviceAuthServer,
) ([]render.ClientVerdict, error) {
	serverKey := types.NamespacedName{Namespace: server.Namespace, Name: server.Name}
	var list v1alpha1.DeviceAuthClientList
	if err := c.List(ctx, &list, client.MatchingFields{indexClientServer: serverKey.String()}); err != nil {
		return nil, fmt.Errorf("listing clients of DeviceAuthServer %s: %w", serverKey, err)
	}

	secrets := make(map[types.NamespacedName]*corev1.Secret)
	for i := range list.Items {
		name := render.ClientSecretName(&list.Items[i])
		if name == "" {
			continue
		}
		key := types.NamespacedName{Namespace: list.Items[i].Namespace, Name: name}
		secret := &corev1.Secret{}
		err := c.Get(ctx, key, secret)
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("reading Secret %s: %w", key, err)
		}
		if err == nil {
			secrets[key] = secret
		}
	}
	return render.ResolveClients(server, list.Items, secrets), nil
}

// clientsOfServer returns a request for each client that references the
// server key.
func clientsOfServer(ctx context.Context, c client.Reader, server types.NamespacedName) []ctrl.Request {
	var list v1alpha1.DeviceAuthClientList
	if err := c.List(ctx, &list, client.MatchingFields{indexClientServer: server.String()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing clients of server failed", "server", server)
		return nil
	}
	requests := make([]ctrl.Request, 0, len(list.Items))
	for _, item := range list.Items {
		requests = append(requests, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&item)})
	}
	return requests
}
