package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// conditionUpdate sets conditions on a copy of an object's status, stamped
// with one generation and time, and remembers which ones changed status or
// reason, so that events are sent only on transitions.
type conditionUpdate struct {
	conditions *[]metav1.Condition
	generation int64
	now        time.Time

	transitions []metav1.Condition
}

// set sets one condition. The transition time changes only when the status
// does, as meta.SetStatusCondition does.
func (u *conditionUpdate) set(conditionType string, status metav1.ConditionStatus, reason, message string) {
	previous := meta.FindStatusCondition(*u.conditions, conditionType)
	changed := previous == nil || previous.Status != status || previous.Reason != reason
	condition := metav1.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: u.generation,
		LastTransitionTime: metav1.NewTime(u.now),
	}
	meta.SetStatusCondition(u.conditions, condition)
	if changed {
		u.transitions = append(u.transitions, condition)
	}
}

// remove deletes a condition that no longer applies.
func (u *conditionUpdate) remove(conditionType string) {
	meta.RemoveStatusCondition(u.conditions, conditionType)
}

// record sends one event for each transition of the listed condition types,
// with the condition's reason and message: Normal when the condition is
// True, else Warning. Call it after the status write succeeded.
func (u *conditionUpdate) record(recorder events.EventRecorder, obj runtime.Object, conditionTypes ...string) {
	for _, condition := range u.transitions {
		for _, conditionType := range conditionTypes {
			if condition.Type != conditionType {
				continue
			}
			eventType := corev1.EventTypeWarning
			if condition.Status == metav1.ConditionTrue {
				eventType = corev1.EventTypeNormal
			}
			recorder.Eventf(obj, nil, eventType, condition.Reason, "Reconcile", "%s", condition.Message)
		}
	}
}

// conflictRetryDelay is how long a reconcile that lost a status write to a
// conflict waits before it runs again. The cache catches up with the write
// that won, usually within milliseconds.
const conflictRetryDelay = 200 * time.Millisecond

// patchStatus writes obj's status as a merge patch from original. The patch
// carries original's resourceVersion, so that a reconcile working from a
// stale cached copy fails with a conflict instead of overwriting a newer
// status and repeating its events. It reports a conflict as conflicted,
// without an error.
func patchStatus(ctx context.Context, c client.Client, obj, original client.Object) (conflicted bool, err error) {
	patch := client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})
	err = c.Status().Patch(ctx, obj, patch)
	if apierrors.IsConflict(err) {
		return true, nil
	}
	return false, err
}
