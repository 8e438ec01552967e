package controllers

import (
	"context"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/render"
)

// renderedConfig is the parsed config of one resourceVersion of a server's
// config Secret.
type renderedConfig struct {
	resourceVersion string
	clients         map[string]config.Client
	err             error
}

// readiness is the client's Ready condition, before it is set.
type readiness struct {
	status  metav1.ConditionStatus
	reason  string
	message string
}

// checkRendered reports whether the server's config Secret contains the
// client with exactly the values of its verdict.
func (r *DeviceAuthClientReconciler) checkRendered(
	ctx context.Context,
	server *v1alpha1.DeviceAuthServer,
	verdict render.ClientVerdict,
) readiness {
	if !verdict.Accepted {
		return readiness{metav1.ConditionFalse, verdict.Reason, "not accepted: " + verdict.Message}
	}

	name := render.ConfigSecretName(server)
	pending := func(format string, args ...any) readiness {
		return readiness{metav1.ConditionFalse, v1alpha1.ReasonConfigPending, fmt.Sprintf(format, args...)}
	}
	secret := &corev1.Secret{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: server.Namespace, Name: name}, secret)
	if apierrors.IsNotFound(err) {
		return pending("waiting for the operator to create the config Secret %q", name)
	}
	if err != nil {
		return pending("reading the config Secret %q: %v", name, err)
	}

	rendered := r.configs.parse(client.ObjectKeyFromObject(server), secret)
	if rendered.err != nil {
		return pending("the config Secret %q is invalid: %v", name, rendered.err)
	}
	entry, found := rendered.clients[verdict.ClientID]
	if !found || !reflect.DeepEqual(entry, verdict.Config) {
		if ready := meta.FindStatusCondition(server.Status.Conditions, v1alpha1.ConditionReady); ready != nil &&
			ready.Reason == v1alpha1.ReasonConfigTooLarge {
			return pending("DeviceAuthServer %s/%s cannot render its config: %s", server.Namespace, server.Name, ready.Message)
		}
		return pending("waiting for DeviceAuthServer %s/%s to render the current values into Secret %q",
			server.Namespace, server.Name, name)
	}
	return readiness{metav1.ConditionTrue, v1alpha1.ReasonReady, fmt.Sprintf(
		"Secret %q contains this client; running server pods load it within kubelet's Secret sync period, "+
			"about a minute", name)}
}

// parse returns the client entries of secret, decoding it only when its
// resourceVersion differs from the one cached for server.
func (c *renderedConfigs) parse(server types.NamespacedName, secret *corev1.Secret) renderedConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cached, ok := c.servers[server]; ok && cached.resourceVersion == secret.ResourceVersion {
		return cached
	}

	rendered := renderedConfig{resourceVersion: secret.ResourceVersion}
	cfg, err := config.Parse(secret.Data[config.FileName])
	if err != nil {
		rendered.err = err
	} else {
		rendered.clients = make(map[string]config.Client, len(cfg.Clients))
		for _, entry := range cfg.Clients {
			rendered.clients[entry.ClientID] = entry
		}
	}
	if c.servers == nil {
		c.servers = make(map[types.NamespacedName]renderedConfig)
	}
	c.servers[server] = rendered
	return rendered
}

// updateStatus writes the client's status from its verdict and readiness,
// only when it differs from the stored status, and sends events for
// Accepted transitions and, once accepted, for Ready transitions. It
// reports whether the write lost to a conflict.
func (r *DeviceAuthClientReconciler) updateStatus(
	ctx context.Context,
	c *v1alpha1.DeviceAuthClient,
	verdict render.ClientVerdict,
	ready readiness,
) (conflicted bool, err error) {
	original := c.DeepCopy()
	status := &c.Status
	status.ObservedGeneration = c.Generation
	status.ClientID = verdict.ClientID
	status.SecretName = verdict.SecretName
	status.Polling = verdict.Polling
	status.UserCode = verdict.UserCode
	status.Endpoints = verdict.Endpoints

	conditions := conditionUpdate{
		conditions: &status.Conditions,
		generation: c.Generation,
		now:        r.Clock.Now(),
	}
	if verdict.Accepted {
		conditions.set(v1alpha1.ConditionAccepted, metav1.ConditionTrue, verdict.Reason, verdict.Message)
	} else {
		conditions.set(v1alpha1.ConditionAccepted, metav1.ConditionFalse, verdict.Reason, verdict.Message)
	}
	conditions.set(v1alpha1.ConditionReady, ready.status, ready.reason, ready.message)
	if verdict.Stalled {
		conditions.set(v1alpha1.ConditionStalled, metav1.ConditionTrue, verdict.Reason, verdict.Message)
	} else {
		conditions.remove(v1alpha1.ConditionStalled)
	}

	if equality.Semantic.DeepEqual(original.Status, c.Status) {
		return false, nil
	}
	conflicted, err = patchStatus(ctx, r.Client, c, original)
	if err != nil {
		return false, fmt.Errorf("updating status of DeviceAuthClient %s/%s: %w", c.Namespace, c.Name, err)
	}
	if conflicted {
		return true, nil
	}
	// While the client is not accepted, Ready only repeats the reason of
	// Accepted, so one event is enough.
	if verdict.Accepted {
		conditions.record(r.Recorder, c, v1alpha1.ConditionAccepted, v1alpha1.ConditionReady)
	} else {
		conditions.record(r.Recorder, c, v1alpha1.ConditionAccepted)
	}
	return false, nil
}
