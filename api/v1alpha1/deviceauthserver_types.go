package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StorageType names the backend that stores pending authorizations.
// +kubebuilder:validation:Enum=Memory
type StorageType string

const (
	// StorageTypeMemory keeps authorizations in the server process. They are
	// lost on restart, and only one replica may run.
	StorageTypeMemory StorageType = "Memory"
)

// AllowedClientNamespaces selects the namespaces that may hold clients of a server.
// +kubebuilder:validation:Enum=Same;All
type AllowedClientNamespaces string

const (
	// AllowedClientNamespacesSame accepts clients in the server's namespace only.
	AllowedClientNamespacesSame AllowedClientNamespaces = "Same"

	// AllowedClientNamespacesAll accepts clients from every namespace.
	AllowedClientNamespacesAll AllowedClientNamespaces = "All"
)

// DeviceAuthServerSpec is the desired state of a device-flow server.
// +kubebuilder:validation:XValidation:rule="self.storage.type != 'Memory' || !has(self.replicas) || self.replicas <= 1",message="storage.type Memory keeps authorizations in one process: set replicas to 0 or 1"
type DeviceAuthServerSpec struct {
	// issuerURL is the public base URL of the server, as CLIs and browsers
	// reach it, such as https://login.example.com. Every endpoint URL is
	// derived from it byte for byte, and it is the "iss" of issued tokens.
	// It must use https, except on loopback addresses (127.0.0.1, [::1],
	// localhost), and has no query, fragment or trailing slash.
	// +required
	// +kubebuilder:validation:MinLength=8
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.contains('?') || self.contains('#') || isURL(self)",message="issuerURL must be an absolute URL such as https://login.example.com"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[^/]*//[^/]*@')",message="issuerURL must not contain user information (user:password@): remove it"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || self.startsWith('https://') || self.matches('^http://(localhost|127[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}|[[]::1[]])(:[0-9]{1,5})?(/|$)')",message="issuerURL must start with https:// (in lower case); http:// is allowed only on loopback addresses such as http://127.0.0.1:8080"
	// +kubebuilder:validation:XValidation:rule="!self.endsWith('/')",message="issuerURL must not end with a slash: remove the trailing /"
	// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#')",message="issuerURL must not contain a query (?) or fragment (#)"
	IssuerURL string `json:"issuerURL"`

	// replicas is the number of server pods, 1 when unset. With
	// storage.type Memory it is at most 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`

	// image is the server container image. When unset, the operator's own
	// image is used, so upgrading the operator upgrades its servers.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// imagePullPolicy is the pull policy of the server container.
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// resources are the compute resources of the server container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// nodeSelector constrains the server pods to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations are the server pods' tolerations.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity is the server pods' scheduling affinity.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// topologySpreadConstraints spread the server pods across topology
	// domains.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// priorityClassName is the server pods' priority class.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// storage selects where pending authorizations are kept.
	// +optional
	// +kubebuilder:default={}
	Storage StorageSpec `json:"storage"`

	// userAuthentication configures how people sign in on the verification page.
	// +required
	UserAuthentication UserAuthenticationSpec `json:"userAuthentication"`

	// allowedClientNamespaces selects the namespaces that may hold
	// DeviceAuthClients of this server: Same (the server's own namespace) or
	// All.
	// +optional
	// +kubebuilder:default=Same
	AllowedClientNamespaces AllowedClientNamespaces `json:"allowedClientNamespaces,omitempty"`

	// defaults are the polling and user-code settings of clients that leave
	// them unset. A field unset here too takes the built-in default.
	// +optional
	Defaults ClientDefaults `json:"defaults,omitempty"`

	// tokens sets the access tokens the server issues.
	// +optional
	// +kubebuilder:default={}
	Tokens TokenSpec `json:"tokens"`
}

// StorageSpec selects the authorization store.
type StorageSpec struct {
	// type is the store backend. Memory, the default, keeps authorizations in
	// the one server process and loses them on restart.
	// +optional
	// +kubebuilder:default=Memory
	Type StorageType `json:"type,omitempty"`
}

// UserAuthenticationSpec configures how people sign in on the verification page.
// +kubebuilder:validation:XValidation:rule="has(self.static)",message="userAuthentication.static must be set: it is the only method in v1alpha1"
type UserAuthenticationSpec struct {
	// static signs people in against a fixed list of users, for development.
	// +optional
	Static *StaticUserAuthentication `json:"static,omitempty"`
}

// StaticUserAuthentication is a fixed list of users in an htpasswd file.
type StaticUserAuthentication struct {
	// secretName is a Secret in the server's namespace with the key
	// "htpasswd": lines of user:hash with bcrypt hashes, as `htpasswd -B`
	// writes them ($2y$ prefix). Changes reach running pods without a
	// restart.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`
}

// ClientDefaults are server-wide defaults for DeviceAuthClients.
type ClientDefaults struct {
	// polling is the default polling policy.
	// +optional
	Polling PollingPolicy `json:"polling,omitempty"`

	// userCode is the default user-code shape.
	// +optional
	UserCode UserCodePolicy `json:"userCode,omitempty"`
}

// TokenSpec sets the access tokens the server issues.
type TokenSpec struct {
	// accessTokenLifetimeSeconds is the lifetime of an access token in
	// seconds, its "expires_in".
	// +optional
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=86400
	AccessTokenLifetimeSeconds int32 `json:"accessTokenLifetimeSeconds,omitempty"`
}

// DeviceAuthServerStatus is the observed state of a device-flow server.
type DeviceAuthServerStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions describe the server: Ready once its Deployment reports its
	// replicas available and its config is rendered.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// availableReplicas is the number of available server pods, as the
	// Deployment reports it.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`

	// clients is the number of clients in the rendered config.
	// +optional
	Clients int32 `json:"clients,omitempty"`

	// issuerURL is the issuer in force, as the metadata document publishes it.
	// +optional
	IssuerURL string `json:"issuerURL,omitempty"`

	// configSecretName is the Secret holding the rendered server config.
	// +optional
	ConfigSecretName string `json:"configSecretName,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=das,categories=deviceauth
// +kubebuilder:printcolumn:name="Issuer",type=string,JSONPath=`.spec.issuerURL`
// +kubebuilder:printcolumn:name="Clients",type=integer,JSONPath=`.status.clients`
// +kubebuilder:printcolumn:name="Available",type=integer,JSONPath=`.status.availableReplicas`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// DeviceAuthServer is an OAuth 2.0 device authorization server (RFC 8628)
// that the operator runs as a Deployment and a Service.
type DeviceAuthServer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the server.
	// +required
	Spec DeviceAuthServerSpec `json:"spec"`

	// status is the observed state of the server.
	// +optional
	Status DeviceAuthServerStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// DeviceAuthServerList is a list of DeviceAuthServers.
type DeviceAuthServerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DeviceAuthServer `json:"items"`
}

func init() {
	SchemeBuilder.Register(&DeviceAuthServer{}, &DeviceAuthServerList{})
}
