package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// FieldOwner is the server-side apply field manager of the operator.
const FieldOwner = "deviceauth-operator"

// applyChild makes the fields that FieldOwner owns on a child of owner equal
// desired, with server-side apply. It first reads the child from the cache
// and extracts the fields FieldOwner owns. When they already hold the
// desired values, it sends no request, so an unchanged object gets no
// writes. Fields that other managers set, such as API server defaults, are
// left alone. On return, live holds the object as the API server last
// returned it, and applied reports whether a request was sent.
func applyChild(
	ctx context.Context,
	c client.Client,
	scheme *runtime.Scheme,
	owner, desired, live client.Object,
) (applied bool, err error) {
	gvk, err := apiutil.GVKForObject(desired, scheme)
	if err != nil {
		return false, err
	}
	kind := gvk.Kind
	if err := controllerutil.SetControllerReference(owner, desired, scheme); err != nil {
		return false, fmt.Errorf("setting owner of %s %s: %w", kind, desired.GetName(), err)
	}
	want, err := applyPayload(desired)
	if err != nil {
		return false, fmt.Errorf("encoding %s %s: %w", kind, desired.GetName(), err)
	}
	want["apiVersion"], want["kind"] = gvk.GroupVersion().String(), kind

	err = c.Get(ctx, client.ObjectKeyFromObject(desired), live)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, fmt.Errorf("reading %s %s: %w", kind, desired.GetName(), err)
	default:
		owned, err := ownedFields(live)
		if err != nil {
			return false, fmt.Errorf("extracting fields of %s %s: %w", kind, desired.GetName(), err)
		}
		if reflect.DeepEqual(prune(owned), prune(want)) {
			return false, nil
		}
	}

	u := &unstructured.Unstructured{Object: want}
	err = c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership)
	if err != nil {
		return false, fmt.Errorf("applying %s %s: %w", kind, desired.GetName(), err)
	}
	// Decode into a zeroed object, so that no field of the cached copy
	// survives into the result.
	reflect.ValueOf(live).Elem().SetZero()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, live); err != nil {
		return true, fmt.Errorf("decoding applied %s %s: %w", kind, desired.GetName(), err)
	}
	return true, nil
}

// applyPayload encodes obj as the JSON object to apply. Status belongs to
// another subresource, and a null creationTimestamp is what the Go types
// encode for "unset".
func applyPayload(obj client.Object) (map[string]any, error) {
	m, err := toJSONMap(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	return m, nil
}

// ownedFields returns the fields of live that FieldOwner set by apply, in
// the same JSON form as applyPayload.
func ownedFields(live client.Object) (map[string]any, error) {
	var extracted any
	var err error
	switch o := live.(type) {
	case *appsv1.Deployment:
		extracted, err = appsv1ac.ExtractDeployment(o, FieldOwner)
	case *corev1.Service:
		extracted, err = corev1ac.ExtractService(o, FieldOwner)
	case *corev1.Secret:
		extracted, err = corev1ac.ExtractSecret(o, FieldOwner)
	case *corev1.ServiceAccount:
		extracted, err = corev1ac.ExtractServiceAccount(o, FieldOwner)
	default:
		return nil, fmt.Errorf("no field extraction for %T", live)
	}
	if err != nil {
		return nil, err
	}
	return toJSONMap(extracted)
}

func toJSONMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// prune drops nulls and empty objects and lists, for comparison only: the
// Go types encode some unset fields as {} while an extracted apply
// configuration leaves them out, and both mean the same to the API server.
func prune(v any) any {
	switch value := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(value))
		for k, item := range value {
			if pruned := prune(item); pruned != nil {
				out[k] = pruned
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(value) == 0 {
			return nil
		}
		out := make([]any, len(value))
		for i, item := range value {
			out[i] = prune(item)
		}
		return out
	default:
		return v
	}
}

// createSecretOnce creates a Secret that owner owns, unless one of that name
// exists. It never changes an existing Secret's data: generated keys and
// client secrets stay as first written. It only moves the ownership of a
// Secret left by a deleted owner of the same kind and name to owner, so
// that the garbage collector does not delete it after owner was recreated.
// newSecret runs only when the Secret is missing.
func createSecretOnce(
	ctx context.Context,
	c client.Client,
	scheme *runtime.Scheme,
	owner client.Object,
	key types.NamespacedName,
	newSecret func() (*corev1.Secret, error),
) (created bool, err error) {
	existing := &corev1.Secret{}
	err = c.Get(ctx, key, existing)
	if err == nil {
		return false, adoptFromDeletedOwner(ctx, c, scheme, owner, existing)
	}
	if !apierrors.IsNotFound(err) {
		return false, err
	}

	secret, err := newSecret()
	if err != nil {
		return false, err
	}
	if err := controllerutil.SetControllerReference(owner, secret, scheme); err != nil {
		return false, err
	}
	// The cache may lag behind a Secret created by an earlier reconcile.
	// Create then fails with AlreadyExists and the Secret stays as it is.
	err = c.Create(ctx, secret, client.FieldOwner(FieldOwner))
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating Secret %s: %w", key, err)
	}
	return true, nil
}

// adoptFromDeletedOwner makes owner the controller of secret when its
// controller reference names an object of owner's kind and name with
// another UID, which is an earlier owner that was deleted.
func adoptFromDeletedOwner(
	ctx context.Context,
	c client.Client,
	scheme *runtime.Scheme,
	owner client.Object,
	secret *corev1.Secret,
) error {
	gvk, err := apiutil.GVKForObject(owner, scheme)
	if err != nil {
		return err
	}
	ref := metav1.GetControllerOf(secret)
	if ref == nil || ref.UID == owner.GetUID() || ref.Kind != gvk.Kind || ref.Name != owner.GetName() {
		return nil
	}
	refGV, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || refGV.Group != gvk.Group {
		return nil
	}

	before := secret.DeepCopy()
	refs := secret.OwnerReferences[:0]
	for _, r := range secret.OwnerReferences {
		if r.UID != ref.UID {
			refs = append(refs, r)
		}
	}
	secret.OwnerReferences = refs
	if err := controllerutil.SetControllerReference(owner, secret, scheme); err != nil {
		return err
	}
	if err := c.Patch(ctx, secret, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("adopting Secret %s/%s from a deleted %s: %w", secret.Namespace, secret.Name, gvk.Kind, err)
	}
	ctrl.LoggerFrom(ctx).Info("Adopted Secret from a deleted owner of the same name",
		"secret", client.ObjectKeyFromObject(secret), "previousOwnerUID", ref.UID)
	return nil
}
