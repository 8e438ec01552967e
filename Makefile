# Image of the operator, which is also the default server image.
IMG ?= deviceauth-operator:dev

# etcd, kube-apiserver and kubectl for the tests and the development
# environment, built from the Go module proxy by hack/controlplane.sh.
CONTROLPLANE_DIR := $(CURDIR)/bin/controlplane

# go test's limit for the whole run: the end-to-end tests start a control
# plane and build the binaries on a 2-core machine.
TEST_TIMEOUT ?= 30m

CONTROLLER_GEN := go tool controller-gen

SHELL := /usr/bin/env bash
.SHELLFLAGS := -o errexit -o nounset -o pipefail -c

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
		/^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: ## Generate the CRDs and the manager's RBAC role.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths=./... \
		output:crd:artifacts:config=config/crd/bases \
		output:rbac:artifacts:config=config/rbac

.PHONY: fmt
fmt: ## Format the Go code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: fmt-check
fmt-check: ## Fail when a Go file is not gofmt-formatted.
	@unformatted=$$(gofmt -l .); \
	if [[ -n "$$unformatted" ]]; then \
		echo "These files need gofmt (run make fmt):"; echo "$$unformatted"; exit 1; \
	fi

.PHONY: test-deps
test-deps: ## Install the Debian packages the tests use (chromium, apache2-utils) when missing.
	hack/install-test-deps.sh

.PHONY: controlplane
controlplane: ## Build etcd, kube-apiserver and kubectl into bin/controlplane (first run about 6 minutes).
	hack/controlplane.sh >/dev/null

.PHONY: test
# test checks the committed generated files instead of regenerating them:
# a test in api/v1alpha1 fails when they are stale.
test: test-deps controlplane fmt-check vet ## Run all tests against a real control plane.
	@# -count=1: the tests use binaries (the control plane, Chromium) that
	@# go test's result cache does not track.
	KUBEBUILDER_ASSETS=$(CONTROLPLANE_DIR) go test -count=1 -timeout $(TEST_TIMEOUT) ./...

.PHONY: dev
dev: ## Run the operator and a server on a local control plane (DEV_ARGS=-port=9090 picks another port).
	@# A built binary rather than go run, which turns a clean stop on
	@# Ctrl-C into exit status 1 and a make error message.
	go build -o bin/dev-environment ./hack/dev
	bin/dev-environment $(DEV_ARGS)

##@ Build

.PHONY: build
build: ## Build bin/manager, bin/server and bin/deviceauth.
	go build -o bin/manager ./cmd/manager
	go build -o bin/server ./cmd/server
	go build -o bin/deviceauth ./cmd/deviceauth

.PHONY: docker-build
docker-build: ## Build the image named by IMG; needs a Docker engine, which no test or CI step uses.
	docker build --build-arg SERVER_IMAGE=$(IMG) -t $(IMG) .

.PHONY: clean
clean: ## Remove the built binaries but keep the cached control plane.
	rm -f bin/manager bin/server bin/deviceauth
