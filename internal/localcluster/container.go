package localcluster

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

// defaultPath is the PATH of a container whose image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// containerSpec is a container of a pod template translated to this
// machine.
type containerSpec struct {
	podName    string
	binary     string
	args       []string
	env        []string
	workingDir string
	volumes    []volumeSource

	readinessURL string
	publicPort   int32
}

// volumeSource is a Secret, ConfigMap or emptyDir volume at one host
// directory.
type volumeSource struct {
	volume  corev1.Volume
	hostDir string
}

// buildContainerSpec translates the Deployment's one container, allocating
// host ports for its container ports on first use.
func (r *PodRunner) buildContainerSpec(ctx context.Context, deploy *appsv1.Deployment) (*containerSpec, error) {
	podSpec := deploy.Spec.Template.Spec
	if len(podSpec.Containers) != 1 || len(podSpec.InitContainers) != 0 {
		return nil, fmt.Errorf("deployment %s has %d containers and %d init containers; the pod runner runs exactly 1 container",
			r.Deployment, len(podSpec.Containers), len(podSpec.InitContainers))
	}
	c := podSpec.Containers[0]
	if len(c.Command) == 0 {
		return nil, fmt.Errorf("container %q sets no command, so the image's entrypoint is unknown here", c.Name)
	}
	binary, ok := r.Binaries[c.Command[0]]
	if !ok {
		return nil, fmt.Errorf("container %q runs %s, which PodRunner.Binaries does not map to a local binary",
			c.Name, c.Command[0])
	}
	// The process runs in the root, where a relative path would not resolve.
	binary, err := filepath.Abs(binary)
	if err != nil {
		return nil, fmt.Errorf("resolving binary of %s: %w", c.Command[0], err)
	}

	spec := &containerSpec{
		podName:    deploy.Name + "-localcluster",
		binary:     binary,
		workingDir: r.root,
	}
	if c.WorkingDir != "" {
		spec.workingDir = filepath.Join(r.root, c.WorkingDir)
	}

	mounts, err := r.mapVolumes(spec, podSpec.Volumes, c.VolumeMounts)
	if err != nil {
		return nil, err
	}
	rawArgs := append(append([]string(nil), c.Command[1:]...), c.Args...)
	hostPorts, err := r.allocatePorts(c.Ports, rawArgs)
	if err != nil {
		return nil, err
	}
	spec.args = rewriteArgs(rawArgs, mounts, hostPorts)

	spec.env, err = r.buildEnv(ctx, deploy, spec, c)
	if err != nil {
		return nil, err
	}
	for i, kv := range spec.env {
		name, value, _ := strings.Cut(kv, "=")
		spec.env[i] = name + "=" + rewriteListenAddress(rewritePaths(value, mounts), hostPorts)
	}

	if err := r.resolveProbe(spec, c, hostPorts); err != nil {
		return nil, err
	}
	return spec, nil
}

// mapVolumes gives each volume mount a directory under the root and
// returns the path mapping for args and env.
func (r *PodRunner) mapVolumes(spec *containerSpec, volumes []corev1.Volume, mounts []corev1.VolumeMount) ([]mountMapping, error) {
	byName := make(map[string]corev1.Volume, len(volumes))
	for _, v := range volumes {
		byName[v.Name] = v
	}

	var mapping []mountMapping
	for _, m := range mounts {
		v, ok := byName[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %q names no volume", m.Name)
		}
		if m.SubPath != "" || m.SubPathExpr != "" {
			return nil, fmt.Errorf("volume mount %q uses subPath, which the pod runner does not support", m.Name)
		}
		if v.Secret == nil && v.ConfigMap == nil && v.EmptyDir == nil {
			return nil, fmt.Errorf("volume %q is not a Secret, ConfigMap or emptyDir, which the pod runner does not support", v.Name)
		}
		hostDir := filepath.Join(r.root, m.MountPath)
		spec.volumes = append(spec.volumes, volumeSource{volume: v, hostDir: hostDir})
		mapping = append(mapping, mountMapping{MountPath: m.MountPath, HostPath: hostDir})
	}
	return mapping, nil
}

// allocatePorts returns host ports for the container's ports: the declared
// ones, or the listen addresses in args when it declares none. A port keeps
// its host port across restarts of the pod.
func (r *PodRunner) allocatePorts(declared []corev1.ContainerPort, args []string) (map[int32]int, error) {
	portSet := make(map[int32]bool)
	for _, p := range declared {
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			portSet[p.ContainerPort] = true
		}
	}
	if len(portSet) == 0 {
		for _, p := range listenPorts(args) {
			portSet[p] = true
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[int32]int, len(portSet))
	for _, port := range sortedPorts(portSet) {
		if hostPort, ok := r.hostPorts[port]; ok {
			out[port] = hostPort
			continue
		}
		hostPort, ok := r.HostPorts[port]
		if !ok {
			var err error
			if hostPort, err = FreeLoopbackPort(); err != nil {
				return nil, err
			}
		}
		r.hostPorts[port] = hostPort
		out[port] = hostPort
	}
	return out, nil
}

// resolveProbe sets the readiness URL from the container's HTTP readiness
// probe and picks the public port.
func (r *PodRunner) resolveProbe(spec *containerSpec, c corev1.Container, hostPorts map[int32]int) error {
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil {
		return fmt.Errorf("container %q has no httpGet readiness probe, so the pod runner cannot tell when it is ready", c.Name)
	}
	get := c.ReadinessProbe.HTTPGet
	probePort, err := portNumber(get.Port, c.Ports)
	if err != nil {
		return err
	}
	hostPort, ok := hostPorts[probePort]
	if !ok {
		return fmt.Errorf("readiness probe port %d is not a container port", probePort)
	}
	scheme := "http"
	if get.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	path := get.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	probeURL := url.URL{Scheme: scheme, Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))}
	spec.readinessURL = probeURL.String() + path

	spec.publicPort, err = pickPublicPort(r.PublicPort, c.Ports, hostPorts, probePort)
	return err
}

func pickPublicPort(requested int32, declared []corev1.ContainerPort, hostPorts map[int32]int, probePort int32) (int32, error) {
	if requested != 0 {
		if _, ok := hostPorts[requested]; !ok {
			return 0, fmt.Errorf("public port %d is not a container port", requested)
		}
		return requested, nil
	}
	for _, p := range declared {
		if p.Name == "http" {
			return p.ContainerPort, nil
		}
	}
	for _, p := range declared {
		if p.ContainerPort != probePort {
			return p.ContainerPort, nil
		}
	}
	candidates := make(map[int32]bool)
	for port := range hostPorts {
		if port != probePort {
			candidates[port] = true
		}
	}
	if sorted := sortedPorts(candidates); len(sorted) > 0 {
		return sorted[0], nil
	}
	return 0, fmt.Errorf("the container has no port besides the readiness probe's %d", probePort)
}

// buildEnv returns the process environment: a container's base variables,
// then env and envFrom resolved from the cluster the way kubelet does at
// container start. Later values win, as in Kubernetes.
func (r *PodRunner) buildEnv(ctx context.Context, deploy *appsv1.Deployment, spec *containerSpec, c corev1.Container) ([]string, error) {
	env := []string{
		"PATH=" + defaultPath,
		"HOME=" + r.root,
		"HOSTNAME=" + spec.podName,
	}
	// GOCOVERDIR passes through, so that a binary built with -cover writes
	// its coverage data where the test expects it.
	if dir, ok := os.LookupEnv("GOCOVERDIR"); ok {
		env = append(env, "GOCOVERDIR="+dir)
	}

	for _, from := range c.EnvFrom {
		data, err := r.envFromSource(ctx, deploy.Namespace, from)
		if err != nil {
			return nil, err
		}
		for _, key := range sortedKeys(data) {
			env = append(env, from.Prefix+key+"="+data[key])
		}
	}
	for _, e := range c.Env {
		value, err := r.envValue(ctx, deploy, spec, e)
		if err != nil {
			return nil, err
		}
		env = append(env, e.Name+"="+value)
	}
	return env, nil
}

func (r *PodRunner) envFromSource(ctx context.Context, namespace string, from corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.SecretRef != nil:
		data, err := r.secretData(ctx, namespace, from.SecretRef.Name, from.SecretRef.Optional)
		return stringMap(data), err
	case from.ConfigMapRef != nil:
		data, err := r.configMapData(ctx, namespace, from.ConfigMapRef.Name, from.ConfigMapRef.Optional)
		return stringMap(data), err
	}
	return nil, fmt.Errorf("envFrom source of unknown kind")
}

func (r *PodRunner) envValue(ctx context.Context, deploy *appsv1.Deployment, spec *containerSpec, e corev1.EnvVar) (string, error) {
	from := e.ValueFrom
	if from == nil {
		return e.Value, nil
	}
	switch {
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		data, err := r.secretData(ctx, deploy.Namespace, ref.Name, ref.Optional)
		if err != nil {
			return "", err
		}
		return keyValue(data, ref.Key, ref.Optional, "secret "+ref.Name)
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		data, err := r.configMapData(ctx, deploy.Namespace, ref.Name, ref.Optional)
		if err != nil {
			return "", err
		}
		return keyValue(data, ref.Key, ref.Optional, "configmap "+ref.Name)
	case from.FieldRef != nil:
		return fieldValue(from.FieldRef.FieldPath, deploy, spec)
	}
	return "", fmt.Errorf("env %s: only value, secretKeyRef, configMapKeyRef and fieldRef are supported", e.Name)
}

// keyValue returns data[key]. A missing key is an error unless optional.
func keyValue(data map[string][]byte, key string, optional *bool, source string) (string, error) {
	value, ok := data[key]
	if !ok && (optional == nil || !*optional) {
		return "", fmt.Errorf("%s has no key %q", source, key)
	}
	return string(value), nil
}

func fieldValue(path string, deploy *appsv1.Deployment, spec *containerSpec) (string, error) {
	switch path {
	case "metadata.name":
		return spec.podName, nil
	case "metadata.namespace":
		return deploy.Namespace, nil
	case "spec.nodeName":
		return "localhost", nil
	case "spec.serviceAccountName":
		return deploy.Spec.Template.Spec.ServiceAccountName, nil
	case "status.podIP", "status.hostIP":
		return "127.0.0.1", nil
	}
	return "", fmt.Errorf("fieldRef %s is not supported by the pod runner", path)
}

// syncVolumes writes every Secret and ConfigMap volume's current content
// and creates emptyDir directories. With wait set, it waits for a missing
// required Secret or ConfigMap, as kubelet holds a pod in
// ContainerCreating. Without it, it returns the error and the volume keeps
// its old content.
func (r *PodRunner) syncVolumes(ctx context.Context, spec *containerSpec, wait bool) error {
	for _, vs := range spec.volumes {
		for {
			err := writeVolume(ctx, r, vs)
			if err == nil {
				break
			}
			if !wait || !apierrors.IsNotFound(err) {
				return err
			}
			if err := sleep(ctx, r.SyncInterval); err != nil {
				return fmt.Errorf("waiting for volume %q: %w", vs.volume.Name, err)
			}
		}
	}
	return nil
}

func writeVolume(ctx context.Context, r *PodRunner, vs volumeSource) error {
	v := vs.volume
	var (
		data        map[string][]byte
		items       []corev1.KeyToPath
		defaultMode *int32
		err         error
	)
	switch {
	case v.EmptyDir != nil:
		if err := os.MkdirAll(vs.hostDir, 0o777); err != nil {
			return fmt.Errorf("creating emptyDir %q: %w", v.Name, err)
		}
		return nil
	case v.Secret != nil:
		data, err = r.secretData(ctx, r.Deployment.Namespace, v.Secret.SecretName, v.Secret.Optional)
		items, defaultMode = v.Secret.Items, v.Secret.DefaultMode
	case v.ConfigMap != nil:
		data, err = r.configMapData(ctx, r.Deployment.Namespace, v.ConfigMap.Name, v.ConfigMap.Optional)
		items, defaultMode = v.ConfigMap.Items, v.ConfigMap.DefaultMode
	}
	if err != nil {
		return err
	}

	files, err := projectKeys(data, items)
	if err != nil {
		return fmt.Errorf("volume %q: %w", v.Name, err)
	}
	dir := VolumeDir{Path: vs.hostDir}
	if defaultMode != nil {
		dir.Mode = fs.FileMode(*defaultMode)
	}
	if _, err := dir.Write(files); err != nil {
		return fmt.Errorf("volume %q: %w", v.Name, err)
	}
	return nil
}

// projectKeys applies a volume's items. Without items, every key becomes a
// file of its own name. With items, only the listed keys do, at their paths.
func projectKeys(data map[string][]byte, items []corev1.KeyToPath) (map[string][]byte, error) {
	if len(items) == 0 {
		return data, nil
	}
	// NOTE: per-item modes are not applied; every file gets the volume's
	// defaultMode.
	files := make(map[string][]byte, len(items))
	for _, item := range items {
		value, ok := data[item.Key]
		if !ok {
			return nil, fmt.Errorf("key %q not found", item.Key)
		}
		files[item.Path] = value
	}
	return files, nil
}

// secretData returns a Secret's data. A missing optional Secret is empty;
// a missing required one returns the NotFound error.
func (r *PodRunner) secretData(ctx context.Context, namespace, name string, optional *bool) (map[string][]byte, error) {
	var secret corev1.Secret
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &secret)
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting secret %s/%s: %w", namespace, name, err)
	}
	return secret.Data, nil
}

func (r *PodRunner) configMapData(ctx context.Context, namespace, name string, optional *bool) (map[string][]byte, error) {
	var cm corev1.ConfigMap
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &cm)
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting configmap %s/%s: %w", namespace, name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data, nil
}

func stringMap(data map[string][]byte) map[string]string {
	out := make(map[string]string, len(data))
	for k, v := range data {
		out[k] = string(v)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
