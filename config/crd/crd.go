// Package crd embeds the generated CustomResourceDefinitions, so that the
// server's standalone mode validates and defaults manifests with the very
// schema that the kube-apiserver enforces.
package crd

import "embed"

// Bases holds bases/*.yaml, as controller-gen writes them.
//
//go:embed bases/*.yaml
var Bases embed.FS
