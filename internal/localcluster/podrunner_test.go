package localcluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// workloadEnv makes the test binary run as the workload of a Deployment
// instead of running tests, so PodRunner has a real process to start.
const workloadEnv = "LOCALCLUSTER_TEST_WORKLOAD"

func TestMain(m *testing.M) {
	if os.Getenv(workloadEnv) == "1" {
		os.Exit(runWorkload(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// runWorkload serves the content of its config file, its arguments and its
// environment on --listen, and /readyz on --admin-listen.
func runWorkload(args []string) int {
	fs := flag.NewFlagSet("workload", flag.ContinueOnError)
	config := fs.String("config", "", "file to serve at /config")
	listen := fs.String("listen", "", "public address")
	adminListen := fs.String("admin-listen", "", "admin address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Getenv("WORKLOAD_FAIL") != "" {
		fmt.Println("workload failing on request")
		return 3
	}

	public := http.NewServeMux()
	public.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		data, err := os.ReadFile(*config)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(data)
	})
	public.HandleFunc("GET /args", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Join(args, "\n"))
	})
	public.HandleFunc("GET /env/{name}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, os.Getenv(r.PathValue("name")))
	})
	admin := http.NewServeMux()
	admin.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})

	fmt.Println("workload listening on", *listen, "and", *adminListen)
	errs := make(chan error, 2)
	go func() { errs <- http.ListenAndServe(*listen, public) }()
	go func() { errs <- http.ListenAndServe(*adminListen, admin) }()
	fmt.Println(<-errs)
	return 1
}

func workloadDeployment(name string, env ...corev1.EnvVar) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:    "workload",
						Image:   "example.invalid/workload:test",
						Command: []string{"/workload"},
						Args: []string{
							"--config=/etc/workload/config/config.json",
							"--listen=:8080",
							"--admin-listen=:8081",
						},
						Env: append([]corev1.EnvVar{
							{Name: workloadEnv, Value: "1"},
							{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
								FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"},
							}},
							{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{
								SecretKeyRef: &corev1.SecretKeySelector{
									LocalObjectReference: corev1.LocalObjectReference{Name: name + "-config"},
									Key:                  "env-value",
								},
							}},
						}, env...),
						Ports: []corev1.ContainerPort{
							{Name: "http", ContainerPort: 8080},
							{Name: "admin", ContainerPort: 8081},
						},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
							HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("admin")},
						}},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "config", MountPath: "/etc/workload/config", ReadOnly: true},
						},
					}},
					Volumes: []corev1.Volume{{
						Name: "config",
						VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName: name + "-config",
						}},
					}},
				},
			},
		},
	}
}

func configSecret(name, config string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name + "-config"},
		Data: map[string][]byte{
			"config.json": []byte(config),
			"env-value":   []byte("from the secret"),
		},
	}
}

// httpGet returns the body of a GET of url, or the error text.
func httpGet(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(body)
}

// testBinary returns the path of the running test binary, which serves as
// the workload.
func testBinary(t *testing.T) string {
	t.Helper()
	path, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func availableCondition(d *appsv1.Deployment) corev1.ConditionStatus {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

func TestPodRunner(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cp, err := StartControlPlane(ctx, Options{CRDDirs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	}()

	t.Run("runs deployment and syncs secrets", func(t *testing.T) {
		testPodRunnerLifecycle(t, ctx, cp)
	})
	t.Run("reports a process that exits", func(t *testing.T) {
		testPodRunnerExit(t, ctx, cp)
	})
	t.Run("kubectl uses the kubeconfig", func(t *testing.T) {
		g := NewWithT(t)
		out, err := cp.Kubectl(ctx, "get", "namespace", "default", "-o", "name")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(strings.TrimSpace(string(out))).To(Equal("namespace/default"))

		_, err = cp.Kubectl(ctx, "get", "deployment", "does-not-exist")
		g.Expect(err).To(MatchError(ContainSubstring("NotFound")))
	})
}

func testPodRunnerLifecycle(t *testing.T, ctx context.Context, cp *ControlPlane) {
	g := NewWithT(t)
	c := cp.Client
	key := types.NamespacedName{Namespace: "default", Name: "lifecycle"}

	publicPort, err := FreeLoopbackPort()
	g.Expect(err).NotTo(HaveOccurred())
	runner := &PodRunner{
		Client:       c,
		Deployment:   key,
		Binaries:     map[string]string{"/workload": testBinary(t)},
		HostPorts:    map[int32]int{8080: publicPort},
		SyncInterval: 100 * time.Millisecond,
	}

	// The runner waits for the Deployment and its Secret, so both may
	// appear after Start is called.
	started := make(chan error, 1)
	go func() { started <- runner.Start(ctx) }()
	g.Expect(c.Create(ctx, workloadDeployment(key.Name))).To(Succeed())
	g.Expect(c.Create(ctx, configSecret(key.Name, "version one"))).To(Succeed())
	g.Expect(<-started).To(Succeed(), "logs:\n%s", runner.Logs())
	defer func() {
		g.Expect(runner.Stop()).To(Succeed())
	}()

	base := runner.PublicURL()
	g.Expect(base).To(Equal(fmt.Sprintf("http://127.0.0.1:%d", publicPort)))
	g.Expect(httpGet(base + "/config")).To(Equal("version one"))
	g.Expect(httpGet(base + "/env/POD_NAMESPACE")).To(Equal("default"))
	g.Expect(httpGet(base + "/env/FROM_SECRET")).To(Equal("from the secret"))

	adminAddress, ok := runner.HostAddress(8081)
	g.Expect(ok).To(BeTrue())
	configPath := filepath.Join(runner.Root(), "etc/workload/config/config.json")
	g.Expect(strings.Split(httpGet(base+"/args"), "\n")).To(Equal([]string{
		"--config=" + configPath,
		fmt.Sprintf("--listen=127.0.0.1:%d", publicPort),
		"--admin-listen=" + adminAddress,
	}))

	var deploy appsv1.Deployment
	g.Expect(c.Get(ctx, key, &deploy)).To(Succeed())
	g.Expect(deploy.Status.ObservedGeneration).To(Equal(deploy.Generation))
	g.Expect(deploy.Status.ReadyReplicas).To(Equal(int32(1)))
	g.Expect(deploy.Status.AvailableReplicas).To(Equal(int32(1)))
	g.Expect(deploy.Status.UpdatedReplicas).To(Equal(int32(1)))
	g.Expect(availableCondition(&deploy)).To(Equal(corev1.ConditionTrue))

	// A Secret update reaches the mounted file through the ..data swap.
	secret := configSecret(key.Name, "version two")
	g.Expect(c.Update(ctx, secret)).To(Succeed())
	g.Eventually(func() string { return httpGet(base + "/config") }).
		WithTimeout(time.Minute).Should(Equal("version two"))

	// A pod template change restarts the process on the same ports.
	g.Expect(c.Get(ctx, key, &deploy)).To(Succeed())
	deploy.Spec.Template.Spec.Containers[0].Env = append(deploy.Spec.Template.Spec.Containers[0].Env,
		corev1.EnvVar{Name: "ROLLED", Value: "yes"})
	g.Expect(c.Update(ctx, &deploy)).To(Succeed())
	g.Eventually(func() string { return httpGet(base + "/env/ROLLED") }).
		WithTimeout(time.Minute).Should(Equal("yes"))
	g.Eventually(func(g Gomega) {
		var rolled appsv1.Deployment
		g.Expect(c.Get(ctx, key, &rolled)).To(Succeed())
		g.Expect(rolled.Status.ObservedGeneration).To(Equal(rolled.Generation))
		g.Expect(availableCondition(&rolled)).To(Equal(corev1.ConditionTrue))
	}).WithTimeout(time.Minute).Should(Succeed())
	g.Expect(runner.Logs()).To(ContainSubstring("pod template of default/lifecycle changed"))

	// Stop ends the process and marks the Deployment unavailable.
	g.Expect(runner.Stop()).To(Succeed())
	g.Expect(httpGet(base + "/config")).To(HavePrefix("error: "))
	g.Expect(c.Get(ctx, key, &deploy)).To(Succeed())
	g.Expect(deploy.Status.AvailableReplicas).To(Equal(int32(0)))
	g.Expect(availableCondition(&deploy)).To(Equal(corev1.ConditionFalse))
	_, err = os.Stat(runner.Root())
	g.Expect(errors.Is(err, os.ErrNotExist)).To(BeTrue(), "the root is removed: %v", err)
}

func testPodRunnerExit(t *testing.T, ctx context.Context, cp *ControlPlane) {
	g := NewWithT(t)
	key := types.NamespacedName{Namespace: "default", Name: "failing"}
	g.Expect(cp.Client.Create(ctx, configSecret(key.Name, "{}"))).To(Succeed())
	deploy := workloadDeployment(key.Name, corev1.EnvVar{Name: "WORKLOAD_FAIL", Value: "1"})
	g.Expect(cp.Client.Create(ctx, deploy)).To(Succeed())

	runner := &PodRunner{
		Client:     cp.Client,
		Deployment: key,
		Binaries:   map[string]string{"/workload": testBinary(t)},
	}
	err := runner.Start(ctx)
	g.Expect(err).To(MatchError(ContainSubstring("exited before it was ready")))
	g.Expect(err).To(MatchError(ContainSubstring("workload failing on request")), "the error carries the logs")

	var got appsv1.Deployment
	g.Expect(cp.Client.Get(ctx, key, &got)).To(Succeed())
	g.Expect(got.Status.AvailableReplicas).To(Equal(int32(0)))
	g.Expect(availableCondition(&got)).To(Equal(corev1.ConditionFalse))
}
