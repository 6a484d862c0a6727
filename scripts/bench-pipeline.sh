#!/usr/bin/env bash
# Pipeline benchmark (called by `make bench` through scripts/bench.sh): the
# built bin/otelcol-comfy with configs/sidecar.yaml, a real redis-server and
# the Dash0 stand-in, on loopback. Prints latency (tailed file / OTLP -> Redis
# subscriber, p50/p99/max at 100 and 1000/s) and overhead (CPU s and peak RSS
# at 1k and 10k records/s next to an otlp -> otlp_grpc baseline).
# The Go code is tests/e2e/bench_pipeline_test.go. BENCH_PIPELINE_DURATION
# (default 5s) sets the length of each latency run (overhead runs twice that).
set -euo pipefail
cd "$(dirname "$0")/.."
export OTELCOL_COMFY_BIN=${OTELCOL_COMFY_BIN:-$PWD/bin/otelcol-comfy}
export CORPUS_DIR=${CORPUS_DIR:-$(cd .. && pwd)/shared/corpus}
cd tests/e2e
BENCH_PIPELINE=1 go test -count=1 -timeout 30m -run '^TestBenchPipeline$' -v . | grep -vE '^(=== RUN|--- PASS|PASS$|ok )'
