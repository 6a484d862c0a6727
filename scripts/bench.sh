#!/usr/bin/env bash
# make bench: every benchmark of the project in one run, so the figures are
# comparable (absolute times drift on shared machines). Each part prints its
# own table; the whole report is also written to bench-report.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_REPORT:-bench-report.txt}
{
  echo "# otelcol-comfy benchmarks — $(date -u +%FT%TZ)"
  echo "# machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  for part in scripts/bench-classifier.sh scripts/bench-exporter.sh scripts/bench-pipeline.sh; do
    if [ -x "$part" ]; then echo; echo "## $part"; "$part"; fi
  done
} 2>&1 | tee "$out"
