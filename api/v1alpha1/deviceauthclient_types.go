package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClientType is the OAuth client type of RFC 6749 section 2.1.
// +kubebuilder:validation:Enum=Public;Confidential
type ClientType string

const (
	// ClientTypePublic is a client that cannot keep a secret, such as a CLI
	// installed on people's machines. It identifies itself with client_id
	// alone.
	ClientTypePublic ClientType = "Public"

	// ClientTypeConfidential is a client that authenticates with a client
	// secret at the token endpoint.
	ClientTypeConfidential ClientType = "Confidential"
)

// ServerReference names a DeviceAuthServer.
type ServerReference struct {
	// name is the DeviceAuthServer's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// namespace is the DeviceAuthServer's namespace. When unset, the
	// client's own namespace. A client in another namespace is accepted only
	// when the server's allowedClientNamespaces allows it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// DeviceAuthClientSpec is the desired state of an OAuth client.
// +kubebuilder:validation:XValidation:rule="has(self.clientID) == has(oldSelf.clientID)",message="clientID cannot be added or removed after creation: delete and recreate the DeviceAuthClient to change it"
// +kubebuilder:validation:XValidation:rule="!has(self.secretName) || self.clientType == 'Confidential'",message="secretName is only for clientType Confidential: remove it or set clientType: Confidential"
type DeviceAuthClientSpec struct {
	// serverRef names the DeviceAuthServer that serves this client.
	// +required
	ServerRef ServerReference `json:"serverRef"`

	// clientID is the OAuth client_id. When unset, metadata.name. Unique per
	// server: of two clients claiming one ID, the older keeps it. Immutable.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._~:-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="clientID is immutable: delete and recreate the DeviceAuthClient to change it"
	ClientID string `json:"clientID,omitempty"`

	// displayName is the name shown to people on the approval page, such as
	// "Acme CLI". When unset, the clientID is shown.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	DisplayName string `json:"displayName,omitempty"`

	// clientType is Public (the default: no secret, as for CLIs) or
	// Confidential (authenticates with a secret at the token endpoint).
	// +optional
	// +kubebuilder:default=Public
	ClientType ClientType `json:"clientType,omitempty"`

	// secretName is, for a Confidential client, a Secret in the client's
	// namespace whose key "clientSecret" holds the client secret. The
	// operator never creates or changes it, and rotating it reaches the
	// server without a restart. When unset, the operator generates the
	// Secret <name>-client-secret and never overwrites it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`

	// scopes are the scopes this client may request. A device authorization
	// request without "scope" gets all of them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	Scopes []string `json:"scopes,omitempty"`

	// polling sets the polling interval and device-code lifetime. Unset
	// fields take the server's spec.defaults.polling, else the built-in
	// defaults (5 and 300 seconds). The values in force are in
	// status.polling.
	// +optional
	Polling PollingPolicy `json:"polling,omitempty"`

	// userCode sets the shape of user codes. Unset fields take the server's
	// spec.defaults.userCode, else the built-in defaults (8 Letters). The
	// values in force are in status.userCode.
	// +optional
	UserCode UserCodePolicy `json:"userCode,omitempty"`
}

// ResolvedPolling is the polling policy in force for a client.
type ResolvedPolling struct {
	// intervalSeconds is the polling interval in force, in seconds.
	IntervalSeconds int32 `json:"intervalSeconds"`

	// expiresInSeconds is the device-code lifetime in force, in seconds.
	ExpiresInSeconds int32 `json:"expiresInSeconds"`
}

// ResolvedUserCode is the user-code shape in force for a client.
type ResolvedUserCode struct {
	// charset is the user-code alphabet in force.
	Charset UserCodeCharset `json:"charset"`

	// length is the user-code length in force.
	Length int32 `json:"length"`
}

// ClientEndpoints are the URLs a CLI needs, derived from the server's issuer.
type ClientEndpoints struct {
	// issuer is the server's issuer URL.
	Issuer string `json:"issuer,omitempty"`

	// deviceAuthorization is the RFC 8628 device authorization endpoint.
	DeviceAuthorization string `json:"deviceAuthorization,omitempty"`

	// token is the token endpoint.
	Token string `json:"token,omitempty"`

	// verification is the page where people enter the user code.
	Verification string `json:"verification,omitempty"`
}

// DeviceAuthClientStatus is the observed state of an OAuth client.
type DeviceAuthClientStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions describe the client: Accepted once it is valid and attached
	// to a server that allows it, Ready once the server's rendered config
	// contains it. Running pods pick up the config within kubelet's Secret
	// sync period, about a minute.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// clientID is the OAuth client_id in force.
	// +optional
	ClientID string `json:"clientID,omitempty"`

	// secretName is the Secret holding a Confidential client's secret, under
	// the key "clientSecret".
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// polling is the polling policy in force.
	// +optional
	Polling *ResolvedPolling `json:"polling,omitempty"`

	// userCode is the user-code shape in force.
	// +optional
	UserCode *ResolvedUserCode `json:"userCode,omitempty"`

	// endpoints are the URLs a CLI needs.
	// +optional
	Endpoints *ClientEndpoints `json:"endpoints,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dac,categories=deviceauth
// +kubebuilder:printcolumn:name="Client ID",type=string,JSONPath=`.status.clientID`
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.serverRef.name`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.clientType`
// +kubebuilder:printcolumn:name="Interval",type=integer,JSONPath=`.status.polling.intervalSeconds`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// DeviceAuthClient is an OAuth client of a DeviceAuthServer that logs in
// with the device authorization grant, and its polling policy.
type DeviceAuthClient struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the client.
	// +required
	Spec DeviceAuthClientSpec `json:"spec"`

	// status is the observed state of the client.
	// +optional
	Status DeviceAuthClientStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// DeviceAuthClientList is a list of DeviceAuthClients.
type DeviceAuthClientList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DeviceAuthClient `json:"items"`
}

func init() {
	SchemeBuilder.Register(&DeviceAuthClient{}, &DeviceAuthClientList{})
}
