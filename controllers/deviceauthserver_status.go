package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/render"
)

// updateStatus writes the server's status from what reconcileChildren
// observed, only when it differs from the stored status, and sends events
// for Ready transitions. It reports whether the write lost to a conflict.
func (r *DeviceAuthServerReconciler) updateStatus(
	ctx context.Context,
	server *v1alpha1.DeviceAuthServer,
	observed serverObservation,
) (conflicted bool, err error) {
	original := server.DeepCopy()
	status := &server.Status
	status.ObservedGeneration = server.Generation
	status.ConfigSecretName = render.ConfigSecretName(server)
	if observed.clients >= 0 {
		status.Clients = observed.clients
		status.IssuerURL = server.Spec.IssuerURL
	}
	if observed.deployment != nil {
		status.AvailableReplicas = observed.deployment.Status.AvailableReplicas
	}

	conditions := conditionUpdate{
		conditions: &status.Conditions,
		generation: server.Generation,
		now:        r.Clock.Now(),
	}
	reason, message := serverReadiness(server, observed)
	if reason == v1alpha1.ReasonReady {
		conditions.set(v1alpha1.ConditionReady, metav1.ConditionTrue, reason, message)
	} else {
		conditions.set(v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	}
	if reason == v1alpha1.ReasonInvalidSpec {
		conditions.set(v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message)
	} else {
		conditions.remove(v1alpha1.ConditionStalled)
	}

	if equality.Semantic.DeepEqual(original.Status, server.Status) {
		return false, nil
	}
	conflicted, err = patchStatus(ctx, r.Client, server, original)
	if err != nil {
		return false, fmt.Errorf("updating status of DeviceAuthServer %s/%s: %w", server.Namespace, server.Name, err)
	}
	if conflicted {
		return true, nil
	}
	for _, c := range conditions.transitions {
		if c.Type == v1alpha1.ConditionReady {
			ctrl.LoggerFrom(ctx).Info("Server readiness changed", "ready", c.Status, "reason", c.Reason)
		}
	}
	conditions.record(r.Recorder, server, v1alpha1.ConditionReady)
	return false, nil
}

// serverReadiness returns the Ready reason and message, most urgent problem
// first.
func serverReadiness(server *v1alpha1.DeviceAuthServer, observed serverObservation) (reason, message string) {
	switch {
	case observed.err != nil:
		return v1alpha1.ReasonReconcileFailed, observed.err.Error()
	case observed.configReason != "":
		return observed.configReason, observed.configMessage
	case observed.usersReason != "":
		return observed.usersReason, observed.usersMessage
	}
	if ready, message := deploymentReady(observed.deployment, render.Replicas(server)); !ready {
		return v1alpha1.ReasonDeploymentPending, message
	}
	return v1alpha1.ReasonReady, fmt.Sprintf("%d of %d replicas available, serving %d clients",
		observed.deployment.Status.AvailableReplicas, render.Replicas(server), server.Status.Clients)
}

// deploymentReady reports whether the deployment controller has rolled out
// the current pod template to all desired replicas and they are available,
// and otherwise what it is waiting for.
func deploymentReady(deployment *appsv1.Deployment, desired int32) (bool, string) {
	if deployment == nil {
		return false, "waiting for the Deployment to be created"
	}
	s := deployment.Status
	if s.ObservedGeneration < deployment.Generation {
		return false, fmt.Sprintf("waiting for the deployment controller to observe Deployment %s generation %d",
			deployment.Name, deployment.Generation)
	}
	if s.UpdatedReplicas < desired {
		return false, fmt.Sprintf("%d of %d replicas run the current pod template", s.UpdatedReplicas, desired)
	}
	if s.AvailableReplicas < desired {
		return false, fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, desired)
	}
	return true, ""
}
