#!/usr/bin/env bash
# Throughput of the redisrouter exporter, in one run against ONE redis-server
# started here on a free port, next to:
#   - redis-benchmark's pipelined ceiling (-P 100) for XADD and PUBLISH, with
#     a tiny payload ("f v" / "msg") and with the exporter's real payload
#     (the same 15 stream fields with a traceback / the same JSON);
#   - one round trip per record (the seed's way: one XADD/PUBLISH per record).
# The exporter pushes batches of 500 records (one pipeline per batch) with 1
# and 4 concurrent pushers (exporterhelper's queue consumers), two runs each:
# the shape of a queue draining after an outage. It also pushes single
# records one at a time (file_log's 25 ms poll hands over one line at a
# time): latency and CPU per push.
#
# Env: BENCH_N (redis-benchmark requests, default 200000),
#      BENCH_TIME (go test -benchtime, default 2s).
# Figures, not asserts: the target (exporter >= 40% of the pipelined ceiling)
# is reported, the script does not fail on it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${BENCH_N:-200000}
BT=${BENCH_TIME:-2s}

for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "bench-exporter: $tool not found (apt-get install redis-server redis-tools)"; exit 1; }
done

# A free port: one nothing answers on.
port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 30000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "bench-exporter: no free port"; exit 1; }

dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  --dir "$dir" --logfile "$dir/redis.log" &
redis_pid=$!
cleanup() { kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  redis-cli -p "$port" PING >/dev/null 2>&1 && break
  sleep 0.05
done
redis-cli -p "$port" PING >/dev/null

# redis-benchmark -q prints progress with \r; keep the final "N requests per second".
rb() {
  redis-benchmark -p "$port" -P 100 -n "$N" -q "$@" 2>&1 | tr '\r' '\n' \
    | grep -Eo '[0-9.]+ requests per second' | tail -1 | awk '{printf "%d", $1}'
}

tb=$'Traceback (most recent call last):\n  File "/app/ComfyUI/execution.py", line 323, in execute\n    output_data = get_output_data(obj, input_data_all)\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB'
progress_json='{"timestamp":"2026-11-23T14:05:21.351Z","timestamp_ms":1763906721351,"machine_id":"bench-machine","message":"45%|████▌     | 9/20 [00:02<00:02,  4.01it/s]","progress":{"current":9,"total":20,"message":"sampling step","kind":"sampling","rate":4.01,"rate_unit":"it/s"},"job_id":"bench-job-9","instance":"gpu0","service_name":"comfyui"}'

echo "redis-server $(redis-server --version | grep -Eo 'v=[0-9.]+') on 127.0.0.1:$port; redis-benchmark -P 100 -n $N; exporter batches of 500, -benchtime $BT"

# The ceilings are measured before and after the exporter runs; the higher of
# the two is kept (the ratio is then conservative on a machine that others
# load at the same time).
ceilings() {
  local a b c d
  a=$(rb XADD bench:tiny MAXLEN '~' 1000 '*' f v)
  b=$(rb PUBLISH bench:tiny msg)
  c=$(rb XADD job:events:bench-rb MAXLEN '~' 1000 '*' event_type log timestamp 2026-11-23T14:05:21.351Z \
    machine_id bench-machine job_id bench-rb level ERROR message "$tb" event_id 0123456789abcdef0123456789abcdef \
    failure_kind exception exception_type torch.OutOfMemoryError exception_message "CUDA out of memory. Tried to allocate 2.00 GiB" \
    severity ERROR service_name comfyui instance gpu0 rule traceback pattern_matched traceback)
  d=$(rb PUBLISH machine:bench-machine:progress "$progress_json")
  redis-cli -p "$port" FLUSHALL >/dev/null
  echo "$a $b $c $d"
}
max() { if [ "${1:-0}" -ge "${2:-0}" ]; then echo "${1:-0}"; else echo "${2:-0}"; fi; }
read -r xt1 pt1 xr1 pr1 <<<"$(ceilings)"

gobench=$(cd "$ROOT/exporter/redisrouterexporter" && REDISROUTER_BENCH_ADDR="127.0.0.1:$port" \
  go test -run '^$' -bench '^(BenchmarkExporter|BenchmarkSingleRecord|BenchmarkPerRecord|BenchmarkPlan)$' -benchtime "$BT" -count 2 . 2>&1) || {
  echo "$gobench"; exit 1; }
# "BenchmarkExporter/failure/consumers=1-2  327  6467171 ns/op  3841 cpu-ns/record  77314 records/s"
# -> 77314: the best of the -count 2 runs, as the ceiling is the best of two rounds.
rate() {
  echo "$gobench" | awk -v name="$1" -v unit="${2:-records/s}" -v want="${3:-max}" '
    $1 ~ "^"name"(-[0-9]+)?$" { for (i = 1; i < NF; i++) if ($(i+1) == unit) {
      v = $i + 0; if (n == 0 || (want == "max" && v > best) || (want == "min" && v < best)) best = v; n++ } }
    END { if (n) printf "%d", best }'
}
exp_f1=$(rate 'BenchmarkExporter/failure/consumers=1')
exp_f4=$(rate 'BenchmarkExporter/failure/consumers=4')
exp_p1=$(rate 'BenchmarkExporter/progress/consumers=1')
exp_p4=$(rate 'BenchmarkExporter/progress/consumers=4')
per_f=$(rate 'BenchmarkPerRecord/failure')
per_p=$(rate 'BenchmarkPerRecord/progress')
cpu_f1=$(rate 'BenchmarkExporter/failure/consumers=1' cpu-ns/record min)
cpu_f4=$(rate 'BenchmarkExporter/failure/consumers=4' cpu-ns/record min)
cpu_p1=$(rate 'BenchmarkExporter/progress/consumers=1' cpu-ns/record min)
cpu_p4=$(rate 'BenchmarkExporter/progress/consumers=4' cpu-ns/record min)
single_f=$(rate 'BenchmarkSingleRecord/failure' ns/op min)
single_p=$(rate 'BenchmarkSingleRecord/progress' ns/op min)
single_cpu_f=$(rate 'BenchmarkSingleRecord/failure' cpu-ns/record min)
single_cpu_p=$(rate 'BenchmarkSingleRecord/progress' cpu-ns/record min)
plan_f=$(rate 'BenchmarkPlan/failure' ns/record min)
plan_p=$(rate 'BenchmarkPlan/progress' ns/record min)
read -r xt2 pt2 xr2 pr2 <<<"$(ceilings)"
xadd_tiny=$(max "$xt1" "$xt2"); publish_tiny=$(max "$pt1" "$pt2")
xadd_real=$(max "$xr1" "$xr2"); publish_real=$(max "$pr1" "$pr2")

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
times() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "n/a" }'; }
bf=$(max "$exp_f1" "$exp_f4")
bp=$(max "$exp_p1" "$exp_p4")

echo
printf '%-36s %15s %15s\n' "records/s" "failures (XADD)" "progress (PUB)"
printf '%-36s %15s %15s\n' "redis-benchmark -P100, tiny payload*" "$xadd_tiny" "$publish_tiny"
printf '%-36s %15s %15s\n' "redis-benchmark -P100, same payload*" "$xadd_real" "$publish_real"
printf '%-36s %15s %15s\n' "exporter, 1 pusher" "$exp_f1" "$exp_p1"
printf '%-36s %15s %15s\n' "exporter, 4 pushers" "$exp_f4" "$exp_p4"
printf '%-36s %15s %15s\n' "one round trip per record (seed)" "$per_f" "$per_p"
printf '%-36s %15s %15s\n' "exporter CPU ns/record, 1 pusher" "$cpu_f1" "$cpu_p1"
printf '%-36s %15s %15s\n' "exporter CPU ns/record, 4 pushers" "$cpu_f4" "$cpu_p4"
printf '%-36s %15s %15s\n' "  of which planning (no Redis) ns" "$plan_f" "$plan_p"
printf '%-36s %15s %15s\n' "single record per push: latency ns" "$single_f" "$single_p"
printf '%-36s %15s %15s\n' "single record per push: CPU ns" "$single_cpu_f" "$single_cpu_p"
echo
printf '%-36s %15s %15s\n' "exporter / ceiling, same payload" "$(pct "$bf" "$xadd_real")" "$(pct "$bp" "$publish_real")"
printf '%-36s %15s %15s\n' "exporter / ceiling, tiny payload" "$(pct "$bf" "$xadd_tiny")" "$(pct "$bp" "$publish_tiny")"
printf '%-36s %15s %15s\n' "exporter / per-record (speed-up)" "$(times "$bf" "$per_f")" "$(times "$bp" "$per_p")"
echo "* best of two redis-benchmark rounds (before and after the exporter runs); exporter rows: best of two"
echo "  runs each. Ratios use the best exporter row. CPU ns/record: the exporter process's user+system time"
echo "  (its socket writes included) per record; it does not count waiting, so it drifts less than records/s."
echo "  Planning: reading attributes, keys, payloads/fields (BenchmarkPlan); the rest is go-redis and the kernel."
echo "target: exporter >= 40% of the pipelined ceiling (same payload). 2 shared cores: redis-server, the"
echo "benchmark client and the exporter compete for them, so absolute figures drift between runs."
