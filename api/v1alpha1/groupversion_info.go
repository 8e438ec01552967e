// Package v1alpha1 contains the deviceauth.dev/v1alpha1 API: DeviceAuthServer,
// which declares a device-flow server, and DeviceAuthClient, which declares an
// OAuth client of that server and its polling policy.
//
// +kubebuilder:object:generate=true
// +groupName=deviceauth.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "deviceauth.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this API with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this API to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
