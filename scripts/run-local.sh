#!/usr/bin/env bash
# `make run`: the sidecar on this machine with the development overlay
# (configs/sidecar.yaml + configs/backend/$TELEMETRY_TARGET.yaml +
# configs/local.yaml): OTLP on loopback and a tailed ComfyUI-style log file
# in, classified records on the console.
#
# Every setting can be overridden from the environment, e.g.
#   REDIS_URL=redis://127.0.0.1:6379 make run      # also publish to Redis
#   TELEMETRY_TARGET=collector OTEL_COLLECTOR_ENDPOINT=127.0.0.1:14317 make run
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${OTELCOL_COMFY_BIN:-$ROOT/bin/otelcol-comfy}
[ -x "$BIN" ] || { echo "run-local: $BIN not found; run 'make build' first" >&2; exit 1; }

WORK=${OTELCOL_COMFY_LOCAL_DIR:-${TMPDIR:-/tmp}/otelcol-comfy-local}
export MACHINE_ID=${MACHINE_ID:-local-dev}
export TELEMETRY_TARGET=${TELEMETRY_TARGET:-disabled}
export COMFYUI_LOG_DIR=${COMFYUI_LOG_DIR:-$WORK/logs}
export OTELCOL_STORAGE_DIR=${OTELCOL_STORAGE_DIR:-$WORK/state}
export OTLP_GRPC_ENDPOINT=${OTLP_GRPC_ENDPOINT:-127.0.0.1:4317}
export OTLP_HTTP_ENDPOINT=${OTLP_HTTP_ENDPOINT:-127.0.0.1:4318}
export OTELCOL_HEALTH_CHECK_ENDPOINT=${OTELCOL_HEALTH_CHECK_ENDPOINT:-127.0.0.1:13133}
export OTELCOL_METRICS_HOST=${OTELCOL_METRICS_HOST:-127.0.0.1}
export OTELCOL_METRICS_PORT=${OTELCOL_METRICS_PORT:-8888}

mkdir -p "$COMFYUI_LOG_DIR" "$OTELCOL_STORAGE_DIR"
LOG="$COMFYUI_LOG_DIR/comfyui-gpu0-out.log"
touch "$LOG" "$COMFYUI_LOG_DIR/comfyui-gpu0-error.log"

cat <<MSG
otelcol-comfy (development overlay)
  machine.id        $MACHINE_ID        telemetry target: $TELEMETRY_TARGET    redis: ${REDIS_URL:-off (set REDIS_URL to publish)}
  tailed files      $COMFYUI_LOG_DIR/comfyui-*-{out,error}.log
  OTLP              grpc $OTLP_GRPC_ENDPOINT   http $OTLP_HTTP_ENDPOINT
  health / metrics  http://$OTELCOL_HEALTH_CHECK_ENDPOINT/status?verbose   http://$OTELCOL_METRICS_HOST:$OTELCOL_METRICS_PORT/metrics

Write ComfyUI lines into the tailed file from another shell, e.g.:
  echo 'got prompt' >> $LOG
  printf '\\r 50%%|#####     | 10/20 [00:05<00:05,  2.00it/s]\\r100%%|##########| 20/20 [00:10<00:00,  2.00it/s]\\n' >> $LOG
  printf 'Traceback (most recent call last):\\n  File "x.py", line 1, in <module>\\ntorch.OutOfMemoryError: CUDA out of memory.\\n' >> $LOG
  cat ../shared/corpus/sessions/akash-pillai-0810__Thermal-InstantIR__comfyui.prev2.log >> $LOG
Each record is printed below with its comfy.* attributes. Ctrl-C stops.

MSG
CONFIGS=(--config "$ROOT/configs/sidecar.yaml" --config "$ROOT/configs/backend/$TELEMETRY_TARGET.yaml" --config "$ROOT/configs/local.yaml")
[ -n "${REDIS_URL:-}" ] || CONFIGS+=(--config "$ROOT/configs/local-no-redis.yaml")
exec "$BIN" "${CONFIGS[@]}" --feature-gates=stanza.synchronousLogEmitter,extension.healthcheck.useComponentStatus
