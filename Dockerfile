# syntax=docker/dockerfile:1
# otelcol-comfy: the ComfyUI sidecar collector image.
#
#   docker build -t otelcol-comfy:0.1.0 .
#
# Stage 1 builds the distribution with ocb v0.159.0 (pinned in
# internal/tools/go.mod, the same make targets as a developer uses) and
# comfyctl, statically (CGO_ENABLED=0). Stage 2 is distroless/static (the
# debug-nonroot variant, for its busybox sh: the entrypoint picks the
# telemetry backend's config file from TELEMETRY_TARGET), no package
# manager, runs as the distroless nonroot user 65532.

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# Module downloads first, so source edits do not refetch them.
COPY internal/tools/go.mod internal/tools/go.sum internal/tools/
RUN cd internal/tools && GOWORK=off go mod download
COPY . .
# `make collector` runs ocb with GOWORK=off against builder-config.yaml;
# `make comfyctl` builds the operator tool (its health command is the
# container's health check).
RUN make collector comfyctl \
 && ./bin/otelcol-comfy components >/dev/null \
 && mkdir -p /out/var/lib/otelcol-comfy /out/var/log/comfyui

FROM gcr.io/distroless/static-debian12:debug-nonroot
LABEL org.opencontainers.image.title="otelcol-comfy" \
      org.opencontainers.image.description="OpenTelemetry Collector sidecar for ComfyUI GPU machines" \
      org.opencontainers.image.source="https://github.com/comfy-sidecar/otelcol-comfy"
COPY --from=build /src/bin/otelcol-comfy /otelcol-comfy
COPY --from=build /src/bin/comfyctl /comfyctl
COPY --from=build /src/configs/sidecar.yaml /etc/otelcol-comfy/sidecar.yaml
COPY --from=build /src/configs/backend/ /etc/otelcol-comfy/backend/
# Queue and offsets live here; mount a volume over it (docker-compose.yml).
COPY --from=build --chown=65532:65532 /out/var/lib/otelcol-comfy /var/lib/otelcol-comfy
COPY --from=build --chown=65532:65532 /out/var/log/comfyui /var/log/comfyui
ENV OTELCOL_STORAGE_DIR=/var/lib/otelcol-comfy \
    COMFYUI_LOG_DIR=/var/log/comfyui \
    TELEMETRY_TARGET=dash0 \
    GOMEMLIMIT=320MiB
USER 65532:65532
# OTLP gRPC, OTLP HTTP, health_check, Prometheus metrics.
EXPOSE 4317 4318 13133 8888
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/comfyctl", "health", "-q", "--url", "http://127.0.0.1:13133/status"]
# The base config, then the backend TELEMETRY_TARGET picks (dash0,
# collector, remote-collector, disabled): the collector's own multi-config
# merge, no YAML edit. The feature gates: tailed lines go to the pipeline as
# read (progress latency, no loss on kill -9), and the health endpoint
# reports each component's status (configs/sidecar.yaml).
ENTRYPOINT ["/busybox/sh", "-c", "exec /otelcol-comfy --config=/etc/otelcol-comfy/sidecar.yaml --config=/etc/otelcol-comfy/backend/${TELEMETRY_TARGET}.yaml --feature-gates=stanza.synchronousLogEmitter,extension.healthcheck.useComponentStatus \"$@\"", "otelcol-comfy"]
CMD []
