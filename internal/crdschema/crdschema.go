// Package crdschema applies a CustomResourceDefinition's schema to objects
// outside a cluster: its defaults, its OpenAPI validation and its CEL rules,
// through the same apiextensions-apiserver code that the kube-apiserver
// runs. The standalone server uses it so that a manifest it accepts is one
// that `kubectl apply` would accept too.
package crdschema

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// Schema is one served version of one CustomResourceDefinition.
type Schema struct {
	GroupVersionKind schema.GroupVersionKind

	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// Load reads every CustomResourceDefinition in files (YAML, one a file) and
// returns a Schema for each served version, keyed by GroupVersionKind.
func Load(files fs.FS, pattern string) (map[schema.GroupVersionKind]*Schema, error) {
	names, err := fs.Glob(files, pattern)
	if err != nil {
		return nil, err
	}
	schemas := map[schema.GroupVersionKind]*Schema{}
	for _, name := range names {
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &crd); err != nil {
			return nil, fmt.Errorf("decoding CustomResourceDefinition %s: %w", name, err)
		}
		for _, version := range crd.Spec.Versions {
			if !version.Served || version.Schema == nil {
				continue
			}
			s, err := newSchema(&crd, version)
			if err != nil {
				return nil, fmt.Errorf("CustomResourceDefinition %s version %s: %w", crd.Name, version.Name, err)
			}
			schemas[s.GroupVersionKind] = s
		}
	}
	return schemas, nil
}

func newSchema(crd *apiextensionsv1.CustomResourceDefinition, version apiextensionsv1.CustomResourceDefinitionVersion) (*Schema, error) {
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(
		version.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
		return nil, err
	}
	structural, err := structuralschema.NewStructural(&internal)
	if err != nil {
		return nil, err
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(&internal)
	if err != nil {
		return nil, err
	}
	return &Schema{
		GroupVersionKind: schema.GroupVersionKind{
			Group:   crd.Spec.Group,
			Version: version.Name,
			Kind:    crd.Spec.Names.Kind,
		},
		structural: structural,
		validator:  validator,
		cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
	}, nil
}

// DefaultAndValidate applies the schema's defaults to obj, an object decoded
// from JSON or YAML into maps, and then validates it as a create would. The
// error lists every field error with its path and the CRD's own message.
func (s *Schema) DefaultAndValidate(ctx context.Context, obj map[string]any) error {
	structuraldefaulting.Default(obj, s.structural)

	errs := apiservervalidation.ValidateCustomResource(nil, obj, s.validator)
	if s.cel != nil {
		celErrs, _ := s.cel.Validate(ctx, nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return toError(errs)
}

func toError(errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}
