# The operator image. It holds the manager, which is the entrypoint, the
# server, which the manager's Deployments run as /server, and the deviceauth
# login CLI. The manager's default server image is this image, given by
# SERVER_IMAGE at build time, so upgrading the operator upgrades servers:
#
#   docker build --build-arg SERVER_IMAGE=registry.example.com/deviceauth-operator:v0.1.0 \
#     -t registry.example.com/deviceauth-operator:v0.1.0 .

FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
ARG SERVER_IMAGE=deviceauth-operator:dev

WORKDIR /workspace
# Dependencies first, so that a source change reuses the module layer.
COPY go.mod go.sum ./
RUN go mod download

COPY api/ api/
COPY cmd/ cmd/
# The server embeds the generated CRDs to validate standalone manifests.
COPY config/crd/ config/crd/
COPY controllers/ controllers/
COPY internal/ internal/

ENV CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH}
RUN go build -trimpath -ldflags "-s -w -X main.defaultServerImage=${SERVER_IMAGE}" -o /out/manager ./cmd/manager
RUN go build -trimpath -ldflags "-s -w" -o /out/server ./cmd/server
RUN go build -trimpath -ldflags "-s -w" -o /out/deviceauth ./cmd/deviceauth

FROM gcr.io/distroless/static:nonroot
COPY --from=builder /out/manager /manager
COPY --from=builder /out/server /server
COPY --from=builder /out/deviceauth /deviceauth
USER 65532:65532
ENTRYPOINT ["/manager"]
