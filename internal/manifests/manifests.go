// Package manifests reads the DeviceAuthServer, DeviceAuthClient and Secret
// manifests of a folder for the server's standalone mode. It applies the
// CRDs' own defaults and validation, so a folder that loads here would also
// pass `kubectl apply -f DIR`.
package manifests

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/config/crd"
	"github.com/deviceauth/deviceauth-operator/internal/crdschema"
)

// DefaultNamespace is the namespace of manifests that set none, as kubectl
// would place them with the default context.
const DefaultNamespace = "default"

// Bundle is the set of objects that a manifests folder declares.
type Bundle struct {
	Server  *v1alpha1.DeviceAuthServer
	Clients []v1alpha1.DeviceAuthClient
	Secrets map[types.NamespacedName]*corev1.Secret

	// Ignored lists "kind namespace/name (file)" for objects of other kinds.
	Ignored []string
}

// Secret returns the Secret with the given name, or nil.
func (b *Bundle) Secret(namespace, name string) *corev1.Secret {
	return b.Secrets[types.NamespacedName{Namespace: namespace, Name: name}]
}

var (
	serverGVK = v1alpha1.GroupVersion.WithKind("DeviceAuthServer")
	clientGVK = v1alpha1.GroupVersion.WithKind("DeviceAuthClient")
	secretGVK = corev1.SchemeGroupVersion.WithKind("Secret")
)

// Loader reads folders of manifests. Build it once: loading the CRD
// schemas compiles their CEL rules.
type Loader struct {
	schemas          map[schema.GroupVersionKind]*crdschema.Schema
	defaultIssuerURL string
}

// Option configures a Loader.
type Option func(*Loader)

// WithDefaultIssuerURL sets the issuerURL of a DeviceAuthServer manifest
// that has none, before validation.
func WithDefaultIssuerURL(url string) Option {
	return func(l *Loader) { l.defaultIssuerURL = url }
}

// NewLoader compiles the embedded CRD schemas.
func NewLoader(opts ...Option) (*Loader, error) {
	schemas, err := crdschema.Load(crd.Bases, "bases/*.yaml")
	if err != nil {
		return nil, err
	}
	for _, gvk := range []schema.GroupVersionKind{serverGVK, clientGVK} {
		if schemas[gvk] == nil {
			return nil, fmt.Errorf("embedded CRDs have no schema for %s", gvk)
		}
	}
	l := &Loader{schemas: schemas}
	for _, opt := range opts {
		opt(l)
	}
	return l, nil
}

// LoadDir reads every .yaml, .yml and .json file directly in dir, as
// `kubectl apply -f DIR` does. The folder must declare exactly one
// DeviceAuthServer; each error names the file and object at fault.
func (l *Loader) LoadDir(ctx context.Context, dir string) (*Bundle, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading manifests folder: %w", err)
	}
	bundle := &Bundle{Secrets: map[types.NamespacedName]*corev1.Secret{}}
	var servers []v1alpha1.DeviceAuthServer
	for _, entry := range entries {
		ext := strings.ToLower(filepath.Ext(entry.Name()))
		if entry.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		path := filepath.Join(dir, entry.Name())
		found, err := l.loadFile(ctx, path, bundle)
		if err != nil {
			return nil, err
		}
		servers = append(servers, found...)
	}

	switch len(servers) {
	case 0:
		return nil, fmt.Errorf("no DeviceAuthServer found in %s: add a manifest of kind DeviceAuthServer", dir)
	case 1:
		bundle.Server = &servers[0]
	default:
		names := make([]string, len(servers))
		for i, s := range servers {
			names[i] = s.Namespace + "/" + s.Name
		}
		return nil, fmt.Errorf("found %d DeviceAuthServers in %s (%s); standalone mode serves one: keep one in the folder",
			len(servers), dir, strings.Join(names, ", "))
	}
	slices.SortFunc(bundle.Clients, func(a, b v1alpha1.DeviceAuthClient) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return bundle, nil
}

// loadFile adds the objects of one file to bundle and returns the servers.
func (l *Loader) loadFile(ctx context.Context, path string, bundle *Bundle) ([]v1alpha1.DeviceAuthServer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var servers []v1alpha1.DeviceAuthServer
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for index := 0; ; index++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return servers, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading document %d: %w", path, index+1, err)
		}
		// Decode as the kube-apiserver does: integers as int64, not float64,
		// so that the schema's integer fields validate.
		docJSON, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d is not valid YAML: %w", path, index+1, err)
		}
		var obj map[string]any
		if err := utiljson.Unmarshal(docJSON, &obj); err != nil {
			return nil, fmt.Errorf("%s: document %d is not a JSON object: %w", path, index+1, err)
		}
		if len(obj) == 0 {
			continue
		}
		server, err := l.addObject(ctx, obj, bundle)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if server != nil {
			servers = append(servers, *server)
		}
	}
}

func (l *Loader) addObject(ctx context.Context, obj map[string]any, bundle *Bundle) (*v1alpha1.DeviceAuthServer, error) {
	u := &unstructured.Unstructured{Object: obj}
	gvk := u.GroupVersionKind()
	if gvk.Kind == "" {
		return nil, fmt.Errorf("object without kind: every manifest needs apiVersion and kind")
	}
	if u.GetName() == "" {
		return nil, fmt.Errorf("%s without metadata.name", gvk.Kind)
	}
	if u.GetNamespace() == "" {
		u.SetNamespace(DefaultNamespace)
	}
	id := fmt.Sprintf("%s %s/%s", gvk.Kind, u.GetNamespace(), u.GetName())

	if gvk == serverGVK && l.defaultIssuerURL != "" {
		if _, found, _ := unstructured.NestedString(obj, "spec", "issuerURL"); !found {
			if err := unstructured.SetNestedField(obj, l.defaultIssuerURL, "spec", "issuerURL"); err != nil {
				return nil, fmt.Errorf("%s: %w", id, err)
			}
		}
	}

	switch gvk {
	case serverGVK, clientGVK:
		if err := l.schemas[gvk].DefaultAndValidate(ctx, obj); err != nil {
			return nil, fmt.Errorf("%s is invalid: %w", id, err)
		}
	}

	switch gvk {
	case serverGVK:
		var server v1alpha1.DeviceAuthServer
		if err := fromMap(obj, &server); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		return &server, nil
	case clientGVK:
		var client v1alpha1.DeviceAuthClient
		if err := fromMap(obj, &client); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		bundle.Clients = append(bundle.Clients, client)
	case secretGVK:
		var secret corev1.Secret
		if err := fromMap(obj, &secret); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		mergeStringData(&secret)
		bundle.Secrets[types.NamespacedName{Namespace: secret.Namespace, Name: secret.Name}] = &secret
	default:
		bundle.Ignored = append(bundle.Ignored, id)
	}
	return nil, nil
}

// mergeStringData moves stringData into data, as the kube-apiserver does on
// write, stringData winning over data for the same key.
func mergeStringData(secret *corev1.Secret) {
	if len(secret.StringData) == 0 {
		return
	}
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	for key, value := range secret.StringData {
		secret.Data[key] = []byte(value)
	}
	secret.StringData = nil
}

func fromMap(obj map[string]any, into runtime.Object) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj, into, true)
}
