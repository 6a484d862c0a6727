#!/usr/bin/env bash
# Classifier benchmark (called by `make bench` through scripts/bench.sh).
#
# In ONE run, feeds the real ComfyUI session logs ($CORPUS_DIR/sessions/*.log,
# one record per line, as file_log produces them) through
#   (a) the comfypattern processor (built-in rules), and
#   (b) the stock transform processor with the seed rule set as OTTL
#       `set(attributes["class"], ...) where IsMatch(body, "...")` statements,
# and prints ns/record, allocations/record, the ratio, and each one's label
# agreement on the labelled corpus ($CORPUS_DIR/comfyui_lines.jsonl).
# The Go code is processor/comfypatternprocessor/bench_test.go (TestBenchTable);
# raw Go benchmarks: cd processor/comfypatternprocessor && go test -run '^$' -bench . -benchmem
set -euo pipefail
cd "$(dirname "$0")/.."
export CORPUS_DIR=${CORPUS_DIR:-$(cd .. && pwd)/shared/corpus}
cd processor/comfypatternprocessor
# -count=1: never print a cached table; the table goes to stdout, test chatter is dropped.
COMFY_BENCH=1 go test -count=1 -run '^TestBenchTable$' -v . | grep -vE '^(=== RUN|--- PASS|PASS$|ok )'
