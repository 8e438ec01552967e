package localcluster

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// Reasons of the Deployment conditions, as the deployment controller names
// them in k8s.io/kubernetes v1.37.2 pkg/controller/deployment/util.
const (
	reasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	reasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	reasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	reasonReplicaSetUpdated          = "ReplicaSetUpdated"
)

// replicaStatus is the part of a Deployment's status that the runner owns.
// The zero value, apart from the generation, describes no running pod.
type replicaStatus struct {
	observedGeneration int64
	replicas           int32
	updated            int32
	ready              int32
	available          int32
}

// readyStatus describes one updated, ready and available pod.
func readyStatus(deploy *appsv1.Deployment) replicaStatus {
	return replicaStatus{
		observedGeneration: deploy.Generation,
		replicas:           1,
		updated:            1,
		ready:              1,
		available:          1,
	}
}

// writeStatus writes want into the Deployment's status with the Available
// and Progressing conditions that go with it. It writes nothing when the
// status already matches. A zero observedGeneration in want keeps the
// Deployment's current generation.
func (r *PodRunner) writeStatus(ctx context.Context, want replicaStatus) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var deploy appsv1.Deployment
		if err := r.Client.Get(ctx, r.Deployment, &deploy); err != nil {
			return err
		}
		if want.observedGeneration == 0 {
			want.observedGeneration = deploy.Generation
		}
		if !applyStatus(&deploy.Status, want, time.Now()) {
			return nil
		}
		return r.Client.Status().Update(ctx, &deploy)
	})
	if err != nil {
		return fmt.Errorf("writing status of deployment %s: %w", r.Deployment, err)
	}
	return nil
}

// applyStatus sets want and the matching conditions on status and reports
// whether anything changed.
func applyStatus(status *appsv1.DeploymentStatus, want replicaStatus, now time.Time) bool {
	before := status.DeepCopy()

	status.ObservedGeneration = want.observedGeneration
	status.Replicas = want.replicas
	status.UpdatedReplicas = want.updated
	status.ReadyReplicas = want.ready
	status.AvailableReplicas = want.available
	status.UnavailableReplicas = 1 - want.available

	available := appsv1.DeploymentCondition{
		Type:    appsv1.DeploymentAvailable,
		Status:  corev1.ConditionTrue,
		Reason:  reasonMinimumReplicasAvailable,
		Message: "Deployment has minimum availability.",
	}
	progressing := appsv1.DeploymentCondition{
		Type:    appsv1.DeploymentProgressing,
		Status:  corev1.ConditionTrue,
		Reason:  reasonNewReplicaSetAvailable,
		Message: "The local pod is available.",
	}
	if want.available == 0 {
		available.Status = corev1.ConditionFalse
		available.Reason = reasonMinimumReplicasUnavailable
		available.Message = "Deployment does not have minimum availability."
		progressing.Reason = reasonReplicaSetUpdated
		progressing.Message = "The local pod is starting or stopped."
	}
	setCondition(status, available, now)
	setCondition(status, progressing, now)

	return !statusEqual(before, status)
}

// setCondition replaces the condition of c's type, keeping its transition
// time unless the status changes.
func setCondition(status *appsv1.DeploymentStatus, c appsv1.DeploymentCondition, now time.Time) {
	stamp := metav1.NewTime(now)
	for i := range status.Conditions {
		existing := &status.Conditions[i]
		if existing.Type != c.Type {
			continue
		}
		if existing.Status == c.Status && existing.Reason == c.Reason && existing.Message == c.Message {
			return
		}
		c.LastUpdateTime = stamp
		c.LastTransitionTime = existing.LastTransitionTime
		if existing.Status != c.Status {
			c.LastTransitionTime = stamp
		}
		*existing = c
		return
	}
	c.LastUpdateTime = stamp
	c.LastTransitionTime = stamp
	status.Conditions = append(status.Conditions, c)
}

func statusEqual(a, b *appsv1.DeploymentStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas ||
		a.UpdatedReplicas != b.UpdatedReplicas || a.ReadyReplicas != b.ReadyReplicas ||
		a.AvailableReplicas != b.AvailableReplicas || a.UnavailableReplicas != b.UnavailableReplicas ||
		len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message {
			return false
		}
	}
	return true
}
