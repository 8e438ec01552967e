package render

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/config"
)

// Values of the standard app.kubernetes.io labels on every child object.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"

	AppName   = "deviceauth-server"
	Component = "authorization-server"
	ManagedBy = "deviceauth-operator"
)

// Ports and names of the server container and its Service.
const (
	ContainerName = "server"

	// HTTPPort serves the OAuth endpoints and the verification page.
	HTTPPort     int32 = 8080
	PortNameHTTP       = "http"

	// AdminPort serves /healthz, /readyz and /metrics. The Service does not
	// expose it, so that routing the Service to the public keeps metrics
	// private. Scrape the pods directly, for example with a PodMonitor.
	AdminPort     int32 = 8081
	PortNameAdmin       = "admin"

	// ServicePort is the Service's port for HTTPPort.
	ServicePort int32 = 80

	// ServerUID is the user and group the server runs as, the "nonroot"
	// user of distroless images.
	ServerUID int64 = 65532
)

// Volume names in the server pod.
const (
	volumeConfig = "config"
	volumeKeys   = "keys"
	volumeUsers  = "users"
)

// secretFileMode is the mode of files in the Secret volumes: readable by the
// owner and by the pod's fsGroup, which the server runs in.
const secretFileMode int32 = 0o440

// Replicas returns the number of server pods: spec.replicas, else 1.
func Replicas(server *v1alpha1.DeviceAuthServer) int32 {
	if server.Spec.Replicas == nil {
		return 1
	}
	return *server.Spec.Replicas
}

// ServiceAccountName returns the name of the server pods' ServiceAccount.
func ServiceAccountName(server *v1alpha1.DeviceAuthServer) string { return server.Name }

// DeploymentName returns the name of the server's Deployment.
func DeploymentName(server *v1alpha1.DeviceAuthServer) string { return server.Name }

// ServiceName returns the name of the server's Service.
func ServiceName(server *v1alpha1.DeviceAuthServer) string { return server.Name }

// ConfigSecretName returns the name of the Secret holding the rendered config.
func ConfigSecretName(server *v1alpha1.DeviceAuthServer) string { return server.Name + "-config" }

// KeysSecretName returns the name of the Secret holding the signing and
// session keys.
func KeysSecretName(server *v1alpha1.DeviceAuthServer) string { return server.Name + "-keys" }

// UsersSecretName returns the name of the htpasswd Secret of the server.
func UsersSecretName(server *v1alpha1.DeviceAuthServer) string {
	if server.Spec.UserAuthentication.Static == nil {
		return ""
	}
	return server.Spec.UserAuthentication.Static.SecretName
}

// Labels returns the labels of every child object of server.
func Labels(server *v1alpha1.DeviceAuthServer) map[string]string {
	labels := SelectorLabels(server)
	labels[LabelComponent] = Component
	labels[LabelManagedBy] = ManagedBy
	return labels
}

// SelectorLabels returns the labels that select the server's pods. They
// never change for a server, since a Deployment's selector is immutable.
func SelectorLabels(server *v1alpha1.DeviceAuthServer) map[string]string {
	return map[string]string{
		LabelName:     AppName,
		LabelInstance: server.Name,
	}
}

// Image returns the server image: spec.image, else defaultImage.
func Image(server *v1alpha1.DeviceAuthServer, defaultImage string) string {
	if server.Spec.Image != "" {
		return server.Spec.Image
	}
	return defaultImage
}

// ServerArgs returns the arguments of the server process. Each setting that
// cannot change while the server runs is an argument, so that changing it
// rolls the Deployment. The config file, which changes live, is not.
func ServerArgs(server *v1alpha1.DeviceAuthServer) []string {
	storage := server.Spec.Storage.Type
	if storage == "" {
		storage = v1alpha1.StorageTypeMemory
	}
	return []string{
		"--config=" + config.ConfigMountPath + "/" + config.FileName,
		"--keys-dir=" + config.KeysMountPath,
		"--htpasswd=" + config.UsersMountPath + "/" + config.HtpasswdFileName,
		fmt.Sprintf("--listen=:%d", HTTPPort),
		fmt.Sprintf("--admin-listen=:%d", AdminPort),
		"--storage=" + strings.ToLower(string(storage)),
	}
}

func objectMeta(server *v1alpha1.DeviceAuthServer, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: server.Namespace,
		Labels:    Labels(server),
	}
}

// ServiceAccount returns the server pods' ServiceAccount. The server never
// calls the Kubernetes API, so it mounts no token.
func ServiceAccount(server *v1alpha1.DeviceAuthServer) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   objectMeta(server, ServiceAccountName(server)),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// ConfigSecret returns the Secret holding the rendered config, with data
// from ConfigSecretData.
func ConfigSecret(server *v1alpha1.DeviceAuthServer, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(server, ConfigSecretName(server)),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// KeysSecret returns the Secret holding the server's keys, with data from
// (*keys.Set).SecretData. The operator creates it once and never
// overwrites it.
func KeysSecret(server *v1alpha1.DeviceAuthServer, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(server, KeysSecretName(server)),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// Service returns the server's ClusterIP Service, which exposes the public
// HTTP port only.
func Service(server *v1alpha1.DeviceAuthServer) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(server, ServiceName(server)),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(server),
			Ports: []corev1.ServicePort{{
				Name:       PortNameHTTP,
				Protocol:   corev1.ProtocolTCP,
				Port:       ServicePort,
				TargetPort: intstr.FromString(PortNameHTTP),
			}},
		},
	}
}

// Deployment returns the server's Deployment, running defaultImage unless
// spec.image is set. The pod template carries no hash of the config, so
// config changes reach pods by a Secret volume update, without a restart.
func Deployment(server *v1alpha1.DeviceAuthServer, defaultImage string) *appsv1.Deployment {
	// Two pods with separate memory stores must never serve at once, so a
	// Memory server stops the old pod before it starts the new one.
	strategy := appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if server.Spec.Storage.Type != "" && server.Spec.Storage.Type != v1alpha1.StorageTypeMemory {
		// NOTE: no such storage type exists yet, and this path never ran.
		// Apps validation rejects rollingUpdate with type Recreate, and the
		// API server defaults rollingUpdate here, so a later switch back to
		// Recreate by server-side apply must clear that field.
		strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
	}

	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(server, DeploymentName(server)),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(Replicas(server)),
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(server)},
			Strategy: strategy,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: Labels(server)},
				Spec:       podSpec(server, defaultImage),
			},
		},
	}
}

func podSpec(server *v1alpha1.DeviceAuthServer, defaultImage string) corev1.PodSpec {
	spec := server.Spec.DeepCopy()
	return corev1.PodSpec{
		ServiceAccountName:           ServiceAccountName(server),
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To(ServerUID),
			RunAsGroup:     ptr.To(ServerUID),
			FSGroup:        ptr.To(ServerUID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers:                []corev1.Container{container(server, defaultImage)},
		Volumes:                   volumes(server),
		NodeSelector:              spec.NodeSelector,
		Tolerations:               spec.Tolerations,
		Affinity:                  spec.Affinity,
		TopologySpreadConstraints: spec.TopologySpreadConstraints,
		PriorityClassName:         spec.PriorityClassName,
	}
}

func container(server *v1alpha1.DeviceAuthServer, defaultImage string) corev1.Container {
	return corev1.Container{
		Name:            ContainerName,
		Image:           Image(server, defaultImage),
		ImagePullPolicy: server.Spec.ImagePullPolicy,
		Command:         []string{"/server"},
		Args:            ServerArgs(server),
		Ports: []corev1.ContainerPort{
			{Name: PortNameHTTP, ContainerPort: HTTPPort, Protocol: corev1.ProtocolTCP},
			{Name: PortNameAdmin, ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP},
		},
		LivenessProbe:  probe("/healthz"),
		ReadinessProbe: probe("/readyz"),
		Resources:      *server.Spec.Resources.DeepCopy(),
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Privileged:               ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: volumeConfig, MountPath: config.ConfigMountPath, ReadOnly: true},
			{Name: volumeKeys, MountPath: config.KeysMountPath, ReadOnly: true},
			{Name: volumeUsers, MountPath: config.UsersMountPath, ReadOnly: true},
		},
	}
}

func probe(path string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(PortNameAdmin)},
		},
	}
}

func volumes(server *v1alpha1.DeviceAuthServer) []corev1.Volume {
	secretVolume := func(name, secretName string) corev1.Volume {
		return corev1.Volume{
			Name: name,
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName:  secretName,
				DefaultMode: ptr.To(secretFileMode),
			}},
		}
	}
	return []corev1.Volume{
		secretVolume(volumeConfig, ConfigSecretName(server)),
		secretVolume(volumeKeys, KeysSecretName(server)),
		secretVolume(volumeUsers, UsersSecretName(server)),
	}
}
