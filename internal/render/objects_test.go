package render

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const defaultImage = "ghcr.io/deviceauth/deviceauth-operator:test"

func TestDeploymentRunsServer(t *testing.T) {
	g := NewWithT(t)
	server := testServer()

	d := Deployment(server, defaultImage)

	g.Expect(d.Name).To(Equal("login"))
	g.Expect(d.Namespace).To(Equal("auth"))
	g.Expect(d.Spec.Replicas).To(Equal(ptr.To[int32](1)))
	g.Expect(d.Spec.Strategy).To(Equal(appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}))
	g.Expect(d.Spec.Selector.MatchLabels).To(Equal(map[string]string{
		"app.kubernetes.io/name":     "deviceauth-server",
		"app.kubernetes.io/instance": "login",
	}))
	g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "deviceauth-operator"))
	g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue("app.kubernetes.io/component", "authorization-server"))
	g.Expect(d.Spec.Template.Annotations).To(BeEmpty(), "no config hash: config changes must not roll the pods")

	c := d.Spec.Template.Spec.Containers
	g.Expect(c).To(HaveLen(1))
	g.Expect(c[0].Image).To(Equal(defaultImage))
	g.Expect(c[0].Command).To(Equal([]string{"/server"}))
	g.Expect(c[0].Args).To(Equal([]string{
		"--config=/etc/deviceauth/config/config.json",
		"--keys-dir=/etc/deviceauth/keys",
		"--htpasswd=/etc/deviceauth/users/htpasswd",
		"--listen=:8080",
		"--admin-listen=:8081",
		"--storage=memory",
	}))
	g.Expect(c[0].Ports).To(ConsistOf(
		corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		corev1.ContainerPort{Name: "admin", ContainerPort: 8081, Protocol: corev1.ProtocolTCP},
	))
	g.Expect(c[0].LivenessProbe.HTTPGet).To(Equal(&corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("admin")}))
	g.Expect(c[0].ReadinessProbe.HTTPGet).To(Equal(&corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("admin")}))
	g.Expect(c[0].VolumeMounts).To(ConsistOf(
		corev1.VolumeMount{Name: "config", MountPath: "/etc/deviceauth/config", ReadOnly: true},
		corev1.VolumeMount{Name: "keys", MountPath: "/etc/deviceauth/keys", ReadOnly: true},
		corev1.VolumeMount{Name: "users", MountPath: "/etc/deviceauth/users", ReadOnly: true},
	))

	secretsByVolume := map[string]string{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		g.Expect(v.Secret).NotTo(BeNil(), "volume %s", v.Name)
		secretsByVolume[v.Name] = v.Secret.SecretName
	}
	g.Expect(secretsByVolume).To(Equal(map[string]string{
		"config": "login-config",
		"keys":   "login-keys",
		"users":  "users",
	}))
}

func TestDeploymentIsRestricted(t *testing.T) {
	g := NewWithT(t)

	pod := Deployment(testServer(), defaultImage).Spec.Template.Spec

	g.Expect(pod.ServiceAccountName).To(Equal("login"))
	g.Expect(pod.AutomountServiceAccountToken).To(Equal(ptr.To(false)))
	g.Expect(pod.SecurityContext.RunAsNonRoot).To(Equal(ptr.To(true)))
	g.Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
	sc := pod.Containers[0].SecurityContext
	g.Expect(sc.RunAsNonRoot).To(Equal(ptr.To(true)))
	g.Expect(sc.ReadOnlyRootFilesystem).To(Equal(ptr.To(true)))
	g.Expect(sc.AllowPrivilegeEscalation).To(Equal(ptr.To(false)))
	g.Expect(sc.Capabilities.Drop).To(Equal([]corev1.Capability{"ALL"}))
	g.Expect(sc.Capabilities.Add).To(BeEmpty())
}

func TestDeploymentTakesSpecFields(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	server.Spec.Image = "registry.example.com/server:v2"
	server.Spec.ImagePullPolicy = corev1.PullAlways
	server.Spec.Replicas = ptr.To[int32](0)
	server.Spec.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")},
	}
	server.Spec.NodeSelector = map[string]string{"pool": "auth"}
	server.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	server.Spec.PriorityClassName = "high"

	d := Deployment(server, defaultImage)

	g.Expect(d.Spec.Replicas).To(Equal(ptr.To[int32](0)))
	pod := d.Spec.Template.Spec
	g.Expect(pod.Containers[0].Image).To(Equal("registry.example.com/server:v2"))
	g.Expect(pod.Containers[0].ImagePullPolicy).To(Equal(corev1.PullAlways))
	g.Expect(pod.Containers[0].Resources.Requests.Cpu().String()).To(Equal("50m"))
	g.Expect(pod.NodeSelector).To(Equal(map[string]string{"pool": "auth"}))
	g.Expect(pod.Tolerations).To(HaveLen(1))
	g.Expect(pod.PriorityClassName).To(Equal("high"))

	// The Deployment shares no maps or slices with the server spec.
	pod.NodeSelector["pool"] = "changed"
	g.Expect(server.Spec.NodeSelector["pool"]).To(Equal("auth"))
}

func TestDeploymentIgnoresConfigSettings(t *testing.T) {
	g := NewWithT(t)
	server := testServer()
	before := Deployment(server, defaultImage)

	// The issuer, token lifetime and client defaults reach pods through the
	// config file, so changing them must leave the pod template alone.
	server.Spec.IssuerURL = "https://other.example.com"
	server.Spec.Tokens.AccessTokenLifetimeSeconds = 120
	server.Spec.Defaults.Polling.IntervalSeconds = ptr.To[int32](9)

	g.Expect(Deployment(server, defaultImage)).To(Equal(before))
}

func TestService(t *testing.T) {
	g := NewWithT(t)

	s := Service(testServer())

	g.Expect(s.Name).To(Equal("login"))
	g.Expect(s.Spec.Type).To(Equal(corev1.ServiceTypeClusterIP))
	g.Expect(s.Spec.Selector).To(Equal(SelectorLabels(testServer())))
	g.Expect(s.Spec.Ports).To(Equal([]corev1.ServicePort{{
		Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http"),
	}}), "the admin port with /metrics stays off the Service")
}

func TestServiceAccountAndSecrets(t *testing.T) {
	g := NewWithT(t)
	server := testServer()

	sa := ServiceAccount(server)
	g.Expect(sa.Name).To(Equal("login"))
	g.Expect(sa.AutomountServiceAccountToken).To(Equal(ptr.To(false)))

	data := map[string][]byte{"config.json": []byte("{}\n")}
	cfg := ConfigSecret(server, data)
	g.Expect(cfg.Name).To(Equal("login-config"))
	g.Expect(cfg.Type).To(Equal(corev1.SecretTypeOpaque))
	g.Expect(cfg.Data).To(Equal(data))

	keys := KeysSecret(server, map[string][]byte{"session-key": []byte("x")})
	g.Expect(keys.Name).To(Equal("login-keys"))
	g.Expect(keys.Labels).To(Equal(Labels(server)))
}
