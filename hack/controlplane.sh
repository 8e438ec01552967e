#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kubectl from the Go module proxy at the
# versions pinned in hack/tools/*/go.mod, and caches them in bin/controlplane.
# A binary is rebuilt only when its version stamp differs from the pin, so
# repeated runs cost nothing. Prints the directory for KUBEBUILDER_ASSETS.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/controlplane"
kube_version=v1.37.2
etcd_version=v3.7.3
mkdir -p "$out"

# build NAME VERSION MODULE_DIR PACKAGE [GO BUILD FLAGS...]
build() {
  local name=$1 version=$2 dir=$3 pkg=$4
  shift 4
  local stamp="$out/.$name.version"
  if [[ -x "$out/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    return
  fi
  if [[ -z ${announced:-} ]]; then
    echo "building the control plane into bin/controlplane (first run only; about 6 minutes on 2 cores)" >&2
    announced=1
  fi
  echo "building $name $version" >&2
  (cd "$root/hack/tools/$dir" && CGO_ENABLED=0 go build -trimpath "$@" -o "$out/$name" "$pkg")
  echo "$version" >"$stamp"
}

kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$kube_version"
kube_ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
kube_ldflags+=" -X k8s.io/component-base/version.gitMinor=37"

build etcd "$etcd_version" etcd go.etcd.io/etcd/server/v3 -ldflags "-s -w"
build kubectl "$kube_version" kube k8s.io/kubernetes/cmd/kubectl -ldflags "$kube_ldflags"
build kube-apiserver "$kube_version" kube k8s.io/kubernetes/cmd/kube-apiserver -ldflags "$kube_ldflags"

echo "$out"
