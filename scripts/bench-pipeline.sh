#!/usr/bin/env bash
# Pipeline benchmarks (issue 5), part of `make bench` (scripts/bench.sh):
#  - latency from a progress line appended to a tailed file, and from an OTLP
#    record, to its arrival at a Redis subscriber: p50/p99/max at 100 and
#    1000 lines/s (target p99 < 50 ms);
#  - CPU seconds and peak RSS of the production pipeline at 1k and 10k
#    records/s next to the same binary with only otlp in and otlp_grpc out
#    (target RSS < 100 MiB at 1k/s), with the stock steps between them
#    (tier 1's disk queue, file_log tailing);
#  - tier 1's backlog after a backend outage: CPU and peak RSS by batch min_size.
# All run the built bin/otelcol-comfy with configs/sidecar.yaml against a
# real redis-server and a local Dash0 stand-in (tests/e2e/harness), and
# print tables. telemetrygen v0.160.0 is installed into bin/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
export OTELCOL_COMFY_BIN=${OTELCOL_COMFY_BIN:-$PWD/bin/otelcol-comfy}
export CORPUS_DIR=${CORPUS_DIR:-$(cd .. && pwd)/shared/corpus}
[ -x "$OTELCOL_COMFY_BIN" ] || { echo "build first: make build" >&2; exit 1; }
cd tests/e2e
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
BENCH_PIPELINE=1 go test -count=1 -timeout 30m -run 'TestBench(PipelineLatency|PipelineOverhead|BackendDrain)$' -v . >"$log" 2>&1 || rc=$?
# The tables (and any test log line); go test's own framing left out.
grep -vE '^(=== |--- |    --- |PASS$|FAIL$|ok  |        )' "$log" || true
if [ "$rc" != 0 ]; then echo "bench-pipeline: go test failed (rc=$rc); full log:" >&2; cat "$log" >&2; fi
exit "$rc"
