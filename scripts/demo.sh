#!/usr/bin/env bash
# `make demo`: the whole product on one machine, in about a minute.
#
#   Redis          a redis-server of its own on a free port (or REDIS_URL)
#   "Dash0"        bin/otelcol-comfy with configs/dash0-standin.yaml: OTLP in,
#                  JSON lines out to a file (Dash0 is not reachable from here)
#   the sidecar    bin/otelcol-comfy with configs/sidecar.yaml, the production
#                  config + configs/backend/collector.yaml, pointed at the stand-in
#   gpu0           a real ComfyUI session from $CORPUS_DIR/sessions replayed
#                  as the platform runs ComfyUI: BOTH sources at once. Every
#                  line goes to output-gpu0.log at a lifelike pace (tqdm bars
#                  redrawn state by state with `\r`, tracebacks, ...), and every
#                  logged line (not tqdm) also over OTLP, batched like the SDK,
#                  with emerge.job_id (`unknown` between jobs); the job worker's
#                  hash worker:<machine>-worker-comfyui-0 says which job runs
#   gpu1           ComfyUI's OpenTelemetry SDK, played by curl over OTLP/HTTP:
#                  two jobs with job.id / emerge.* attributes, one ends in OOM
#
# It shows progress and failures arriving in Redis (comfyctl monitor) and
# ends with a count per tier. Everything it starts is stopped on exit.
#
# Needs: make build; redis-server + redis-cli (Debian: apt-get install
# redis-server redis-tools) unless REDIS_URL is set; curl for gpu1.
# Knobs: DEMO_SESSION (file name or path), DEMO_SECONDS (pace, default 40),
# CORPUS_DIR, REDIS_URL, DEMO_KEEP=1 (keep the work directory).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${OTELCOL_COMFY_BIN:-$ROOT/bin/otelcol-comfy}
COMFYCTL=${COMFYCTL_BIN:-$ROOT/bin/comfyctl}
CORPUS_DIR=${CORPUS_DIR:-$ROOT/../shared/corpus}
DEMO_SESSION=${DEMO_SESSION:-GhostPrincess1__Aigcserver__comfyui.log}
DEMO_SECONDS=${DEMO_SECONDS:-40}
MACHINE_ID=${DEMO_MACHINE_ID:-demo-gpu-box}

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
say() { printf '[demo] %s\n' "$*"; }
die() { printf '[demo] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- checks
[ -x "$BIN" ] || die "$BIN not found: run 'make build' first"
case $DEMO_SESSION in
  /*) SESSION=$DEMO_SESSION ;;
  *) SESSION=$CORPUS_DIR/sessions/$DEMO_SESSION ;;
esac
[ -r "$SESSION" ] || die "session log $SESSION not found (set CORPUS_DIR or DEMO_SESSION)"
command -v redis-cli >/dev/null || die "redis-cli not found. Install it: sudo apt-get install -y redis-tools"
if [ -z "${REDIS_URL:-}" ]; then
  command -v redis-server >/dev/null ||
    die "redis-server not found. Install it (sudo apt-get install -y redis-server) or set REDIS_URL=redis://host:port"
fi
HAVE_CURL=1
command -v curl >/dev/null || { HAVE_CURL=0; say "curl not found: skipping gpu1 (the OTLP sender)"; }

# ---------------------------------------------------------------- cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/otelcol-comfy-demo.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[i]}" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${DEMO_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
    say "work directory kept: $WORK (logs of every process are there)"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nobody listens on (checked by connecting), never handed out twice.
USED_PORTS=" "
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    [[ $USED_PORTS == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS+="$p "
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2
  shift 2
  for _ in $(seq $((secs * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$what did not come up in ${secs}s (see $WORK)"
}

# ---------------------------------------------------------------- redis
if [ -n "${REDIS_URL:-}" ]; then
  REDIS=(redis-cli -u "$REDIS_URL")
  say "Redis: $REDIS_URL (yours; demo keys are left in place)"
  export REDIS_URL
else
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK" --logfile "$WORK/redis.log" &
  PIDS+=($!)
  REDIS=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT")
  wait_for 10 "redis-server" "${REDIS[@]}" ping
  say "Redis: redis-server on 127.0.0.1:$REDIS_PORT (started for the demo)"
  export REDIS_HOST=127.0.0.1 REDIS_PORT
  unset REDIS_URL
fi

# ---------------------------------------------------------------- Dash0 stand-in
STANDIN_PORT=$(free_port)
STANDIN_FILE=$WORK/dash0-standin.jsonl
STANDIN_OTLP_GRPC_ENDPOINT=127.0.0.1:$STANDIN_PORT STANDIN_OUTPUT_FILE=$STANDIN_FILE \
  "$BIN" --config "$ROOT/configs/dash0-standin.yaml" >"$WORK/dash0-standin.log" 2>&1 &
PIDS+=($!)
wait_for 20 "the Dash0 stand-in" bash -c "exec 3<>/dev/tcp/127.0.0.1/$STANDIN_PORT"
say "Dash0 stand-in: OTLP gRPC on 127.0.0.1:$STANDIN_PORT -> $STANDIN_FILE"

# ---------------------------------------------------------------- the sidecar
LOGDIR=$WORK/comfyui-logs
mkdir -p "$LOGDIR"
# The machine service's layout: stdout and stderr together in output-gpu0.log.
GPU0_LOG=$LOGDIR/output-gpu0.log
: >"$GPU0_LOG"
HEALTH_PORT=$(free_port)
METRICS_PORT=$(free_port)
OTLP_GRPC_PORT=$(free_port)
OTLP_HTTP_PORT=$(free_port)
(
  # The stand-in speaks plain OTLP gRPC: TELEMETRY_TARGET=collector (Dash0
  # itself is TLS only, and the production config has no insecure switch).
  export MACHINE_ID TELEMETRY_TARGET=collector
  export OTEL_COLLECTOR_ENDPOINT=127.0.0.1:$STANDIN_PORT
  export COMFYUI_LOG_DIR=$LOGDIR COMFYUI_OUTPUT_LOG_DIR=$LOGDIR OTELCOL_STORAGE_DIR=$WORK/state
  # Job context from the worker's state in Redis (the demo plays the worker).
  export WORKER_STATE_ENABLED=true
  export OTLP_GRPC_ENDPOINT=127.0.0.1:$OTLP_GRPC_PORT OTLP_HTTP_ENDPOINT=127.0.0.1:$OTLP_HTTP_PORT
  export OTELCOL_HEALTH_CHECK_ENDPOINT=127.0.0.1:$HEALTH_PORT
  export OTELCOL_METRICS_HOST=127.0.0.1 OTELCOL_METRICS_PORT=$METRICS_PORT
  export OTELCOL_PPROF_ENDPOINT=127.0.0.1:$(free_port)
  exec "$BIN" --config "$ROOT/configs/sidecar.yaml" --config "$ROOT/configs/backend/$TELEMETRY_TARGET.yaml" \
    --feature-gates=stanza.synchronousLogEmitter,extension.healthcheck.useComponentStatus
) >"$WORK/sidecar.log" 2>&1 &
SIDECAR_PID=$!
PIDS+=($SIDECAR_PID)
healthy() {
  if [ -x "$COMFYCTL" ] && "$COMFYCTL" health -q --url "http://127.0.0.1:$HEALTH_PORT/status" 2>/dev/null; then return 0; fi
  command -v curl >/dev/null && curl -fsS "http://127.0.0.1:$HEALTH_PORT/status" >/dev/null
}
for _ in $(seq 300); do
  healthy && break
  kill -0 "$SIDECAR_PID" 2>/dev/null || { tail -n 20 "$WORK/sidecar.log" >&2; die "the sidecar exited"; }
  sleep 0.1
done
healthy || die "the sidecar is not healthy after 30s (see $WORK/sidecar.log)"
say "sidecar: configs/sidecar.yaml, machine.id=$MACHINE_ID, TELEMETRY_TARGET=collector -> stand-in"
say "         health http://127.0.0.1:$HEALTH_PORT/status?verbose  metrics http://127.0.0.1:$METRICS_PORT/metrics"
say "         tailing $LOGDIR/output-gpu*.log and comfyui-*-{out,error}.log, OTLP/HTTP on 127.0.0.1:$OTLP_HTTP_PORT"

# ---------------------------------------------------------------- watchers
# Counting subscriber: the authoritative progress count for the summary.
"${REDIS[@]}" --csv psubscribe 'machine:*:progress' >"$WORK/pubsub.csv" 2>&1 &
PIDS+=($!)
# What an operator would watch: comfyctl monitor (live, below).
MONITOR=0
if [ -x "$COMFYCTL" ] && "$COMFYCTL" monitor -h >/dev/null 2>&1; then
  if [ -n "${REDIS_URL:-}" ]; then mon_conn=(--url "$REDIS_URL"); else mon_conn=(--host 127.0.0.1 --port "$REDIS_PORT"); fi
  "$COMFYCTL" monitor all "${mon_conn[@]}" --machine "$MACHINE_ID" --no-color > >(sed -u 's/^/  redis | /') 2>&1 &
  PIDS+=($!)
  MONITOR=1
fi
sleep 0.5

# ---------------------------------------------------------------- gpu1: the SDK
now_ns() { date +%s%N; }
otlp_log() { # otlp_log JOB_ID WORKFLOW_ID SEVERITY BODY
  local body
  body=$(printf '%s' "$4" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | awk 'BEGIN{ORS="\\n"} {print}' | sed 's/\\n$//')
  curl -fsS -o /dev/null -X POST "http://127.0.0.1:$OTLP_HTTP_PORT/v1/logs" -H 'Content-Type: application/json' -d @- <<JSON || say "OTLP post failed"
{"resourceLogs":[{"resource":{"attributes":[
  {"key":"service.name","value":{"stringValue":"comfyui"}},
  {"key":"service.instance.id","value":{"stringValue":"gpu1"}},
  {"key":"machine.id","value":{"stringValue":"$MACHINE_ID"}},
  {"key":"job.id","value":{"stringValue":"$1"}}]},
 "scopeLogs":[{"scope":{"name":"comfyui"},"logRecords":[{
  "timeUnixNano":"$(now_ns)","observedTimeUnixNano":"$(now_ns)","severityText":"$3",
  "body":{"stringValue":"$body"},
  "attributes":[{"key":"emerge.job_id","value":{"stringValue":"$1"}},
                {"key":"emerge.workflow_id","value":{"stringValue":"$2"}}]}]}]}]}
JSON
}
gpu1_sdk() {
  local job=demo-job-1 wf=wf-portrait
  otlp_log $job $wf INFO "got prompt"
  local bar
  for bar in '  0%|          | 0/20 [00:00<?, ?it/s]' ' 25%|##5       | 5/20 [00:02<00:07,  2.01it/s]' \
    ' 50%|#####     | 10/20 [00:05<00:05,  2.00it/s]' ' 75%|#######5  | 15/20 [00:07<00:02,  2.00it/s]' \
    '100%|##########| 20/20 [00:10<00:00,  2.00it/s]'; do
    otlp_log $job $wf INFO "$bar"
    sleep 0.5
  done
  otlp_log $job $wf INFO "Prompt executed in 10.21 seconds"
  job=demo-job-2 wf=wf-video
  otlp_log $job $wf INFO "got prompt"
  otlp_log $job $wf INFO "Requested to load WanVideoModel"
  sleep 1
  otlp_log $job $wf ERROR "!!! Exception during processing !!! CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity of 23.64 GiB of which 1.12 GiB is free."
  otlp_log $job $wf ERROR 'Traceback (most recent call last):
  File "/app/ComfyUI/execution.py", line 327, in execute
    output_data, output_ui, has_subgraph = get_output_data(obj, input_data_all)
  File "/app/ComfyUI/comfy/ldm/modules/attention.py", line 412, in attention_pytorch
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity of 23.64 GiB of which 1.12 GiB is free.'
  otlp_log $job $wf INFO "Prompt executed in 3.02 seconds"
}

# ---------------------------------------------------------------- gpu0: its SDK and its worker
# ComfyUI's logging records for gpu0, batched like the SDK's batch processor:
# one JSON record per logged line, posted together every ~40 lines and at
# each job boundary.
GPU0_BATCH=$WORK/gpu0-otlp.batch
GPU0_JOB=unknown
GPU0_JOBS=0
: >"$GPU0_BATCH"
json_str() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' | sed 's/\x1b/\\u001b/g' | tr -d '\r' | awk 'BEGIN{ORS="\\n"} {print}' | sed 's/\\n$//'; }
gpu0_otlp_add() { # gpu0_otlp_add BODY
  [ -s "$GPU0_BATCH" ] && printf ',' >>"$GPU0_BATCH"
  printf '{"timeUnixNano":"%s","observedTimeUnixNano":"%s","severityText":"INFO","body":{"stringValue":"%s"},"attributes":[{"key":"emerge.job_id","value":{"stringValue":"%s"}},{"key":"emerge.workflow_id","value":{"stringValue":"%s"}}]}' \
    "$(now_ns)" "$(now_ns)" "$(json_str "$1")" "$GPU0_JOB" "${GPU0_JOB/job/wf}" >>"$GPU0_BATCH"
}
gpu0_otlp_flush() {
  [ $HAVE_CURL = 1 ] && [ -s "$GPU0_BATCH" ] || return 0
  { printf '{"resourceLogs":[{"resource":{"attributes":['
    printf '{"key":"service.name","value":{"stringValue":"comfyui"}},{"key":"service.namespace","value":{"stringValue":"emerge"}},'
    printf '{"key":"machine.id","value":{"stringValue":"%s"}},{"key":"service.instance.id","value":{"stringValue":"gpu0"}},' "$MACHINE_ID"
    printf '{"key":"comfy.instance","value":{"stringValue":"gpu0"}},{"key":"worker.id","value":{"stringValue":"%s-worker-comfyui-0"}}]},' "$MACHINE_ID"
    printf '"scopeLogs":[{"scope":{"name":"comfyui"},"logRecords":['; cat "$GPU0_BATCH"; printf ']}]}]}'; } |
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:$OTLP_HTTP_PORT/v1/logs" -H 'Content-Type: application/json' -d @- || say "gpu0 OTLP post failed"
  : >"$GPU0_BATCH"
}
gpu0_worker() { # gpu0_worker STATUS JOB: what the platform's job worker writes
  "${REDIS[@]}" hset "worker:$MACHINE_ID-worker-comfyui-0" status "$1" current_job_id "$2" last_status_change "$(date -u +%FT%T.%3NZ)" >/dev/null
  "${REDIS[@]}" publish worker_status "{\"worker_id\":\"$MACHINE_ID-worker-comfyui-0\",\"new_status\":\"$1\",\"current_job_id\":\"$2\"}" >/dev/null
}

# ---------------------------------------------------------------- gpu0: the session
LINES=$(wc -l <"$SESSION")
# tqdm redraws: a `\r` followed by more text (not the `\r` of a CRLF).
REDRAWS=$(LC_ALL=C awk '{ n += gsub(/\r[^\r]/, "&") } END { print n + 0 }' "$SESSION")
# Spread the replay over DEMO_SECONDS: 40% of the time on bar redraws.
LINE_DELAY=$(awk -v s="$DEMO_SECONDS" -v n="$LINES" 'BEGIN{d=0.6*s/(n+1); if(d>0.5)d=0.5; printf "%.4f", d}')
STATE_DELAY=$(awk -v s="$DEMO_SECONDS" -v b="$REDRAWS" 'BEGIN{if(b<1)b=1; d=0.4*s/b; if(d>0.3)d=0.3; printf "%.4f", d}')
# A line that continues the record before it (as configs/sidecar.yaml's
# recombine operator sees it): indented, `* `, or `SomeError: ...`.
CONTINUATION='^(\[[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.,]+\] )?(  |'$'\t''|\* |Output will be ignored|During handling|The above exception|([A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z0-9_]*(Error|Exception|Exit|Interrupt)(:|$))'
replay() {
  local -a lines
  local line rest first part i n
  mapfile -t lines <"$SESSION"
  n=${#lines[@]}
  local logged="" clean
  gpu0_worker idle ""
  for ((i = 0; i < n; i++)); do
    line=${lines[i]}
    clean=${line%$'\r'}
    # A job starts: the worker takes it before ComfyUI logs `got prompt`.
    if [[ $clean == *"got prompt"* ]]; then
      gpu0_otlp_flush
      GPU0_JOBS=$((GPU0_JOBS + 1))
      GPU0_JOB=demo-gpu0-job-$GPU0_JOBS
      gpu0_worker busy "$GPU0_JOB"
    fi
    first=${line%%$'\r'*}
    printf '%s' "$first" >>"$GPU0_LOG"
    rest=${line#"$first"}
    while [ -n "$rest" ]; do # tqdm: each `\r` redraw is written when it happens
      rest=${rest#$'\r'}
      part=${rest%%$'\r'*}
      [ -n "$part" ] && sleep "$STATE_DELAY"
      printf '\r%s' "$part" >>"$GPU0_LOG"
      rest=${rest#"$part"}
    done
    printf '\n' >>"$GPU0_LOG"
    # The same line as a logging record, unless it is a tqdm bar (those
    # never pass through Python logging). A traceback is one record.
    if [[ $line != *$'\r'?* && -n ${clean// /} ]]; then
      logged+=${logged:+$'\n'}$clean
      if ! [[ ${lines[i + 1]:-} =~ $CONTINUATION ]]; then
        gpu0_otlp_add "$logged"
        logged=""
      fi
    fi
    if [[ $clean == *"Prompt executed in"* || $clean == *"Processing interrupted"* ]]; then
      GPU0_JOB=unknown
      gpu0_otlp_flush
      gpu0_worker idle ""
    fi
    (((i + 1) % 40 == 0)) && gpu0_otlp_flush
    (((i + 1) % 250 == 0)) && say "gpu0: replayed $((i + 1))/$n lines"
    # Python writes a traceback (or a validation report) in one burst: no
    # pause before a line that continues the previous one.
    [[ ${lines[i + 1]:-} =~ $CONTINUATION ]] || sleep "$LINE_DELAY"
  done
  [ -n "$logged" ] && gpu0_otlp_add "$logged"
  gpu0_otlp_flush
  say "gpu0: replayed $n/$n lines ($GPU0_JOBS jobs, file and OTLP)"
}

echo
bold "Replaying $(basename "$SESSION") ($LINES lines, $REDRAWS tqdm redraws) as gpu0; gpu1 talks OTLP. ~${DEMO_SECONDS}s."
[ $MONITOR = 1 ] && say "live from Redis (comfyctl monitor all):"
START=$(date +%s)
[ $HAVE_CURL = 1 ] && { gpu1_sdk & PIDS+=($!); }
replay
wait_for_quiet() { # until the stand-in's file stops growing for 2s (max 20s)
  local last=-1 same=0 size
  for _ in $(seq 200); do
    size=$(stat -c %s "$STANDIN_FILE" 2>/dev/null || echo 0)
    if [ "$size" = "$last" ]; then same=$((same + 1)); else same=0; fi
    ((same >= 20)) && return
    last=$size
    sleep 0.1
  done
}
wait_for_quiet
ELAPSED=$(($(date +%s) - START))

# ---------------------------------------------------------------- the count
count() { grep -o "$1" "$2" 2>/dev/null | wc -l | tr -d ' '; }
class_count() { count "\"key\":\"comfy.class\",\"value\":{\"stringValue\":\"$1\"}" "$STANDIN_FILE"; }
AT_DASH0=$(count '"body":{' "$STANDIN_FILE")
PROGRESS_MSGS=$(grep -c '^"pmessage"' "$WORK/pubsub.csv" || true)
STREAM_LINES=""
FAILURE_ENTRIES=0
JOB_ENTRIES=0
JOB_STREAMS=0
while read -r key; do
  [ -n "$key" ] || continue
  n=$("${REDIS[@]}" xlen "$key")
  FAILURE_ENTRIES=$((FAILURE_ENTRIES + n))
  if [[ $key == job:events:* ]]; then JOB_ENTRIES=$((JOB_ENTRIES + n)); JOB_STREAMS=$((JOB_STREAMS + 1)); continue; fi
  STREAM_LINES+=$(printf '\n      %-40s %s entries' "$key" "$n")
done < <(
  "${REDIS[@]}" --scan --pattern 'job:events:*'
  "${REDIS[@]}" --scan --pattern "machine:$MACHINE_ID:failures"
)
METRICS=$(curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null || true)
metric() { printf '%s\n' "$METRICS" | awk -v m="$1" -v e="$2" 'index($0, m "{")==1 && index($0, "exporter=\"" e "\"") {s+=$NF} END{printf "%d", s}'; }

echo
bold "== Count per tier (${ELAPSED}s) =="
printf '  1. Dash0 (stand-in)    %5d records   (%d progress, %d failure, %d other)\n' \
  "$AT_DASH0" "$(class_count progress)" "$(class_count failure)" "$(class_count other)"
printf '  2. Redis Pub/Sub       %5d progress messages on machine:%s:progress\n' "$PROGRESS_MSGS" "$MACHINE_ID"
printf '  3. Redis Streams       %5d failure entries: %d in %d job streams (job:events:*), %d without a job%s\n' \
  "$FAILURE_ENTRIES" "$JOB_ENTRIES" "$JOB_STREAMS" "$((FAILURE_ENTRIES - JOB_ENTRIES))" "$STREAM_LINES"
if [ -n "$METRICS" ]; then
  printf '  sidecar self-metrics: %s records sent to Dash0, %s export failures\n' \
    "$(metric otelcol_exporter_sent_log_records otlp_grpc/collector)" \
    "$(($(metric otelcol_exporter_send_failed_log_records otlp_grpc/collector) + $(metric otelcol_exporter_send_failed_log_records redisrouter/progress) + $(metric otelcol_exporter_send_failed_log_records redisrouter/failures)))"
fi
say "a failure entry:"
first_stream=$("${REDIS[@]}" --scan --pattern 'job:events:*' | head -n 1)
[ -n "$first_stream" ] && "${REDIS[@]}" xrange "$first_stream" - + COUNT 1 | head -n 40 | cut -c1-160 | sed 's/^/      /'
if ((AT_DASH0 == 0 || FAILURE_ENTRIES == 0 || PROGRESS_MSGS == 0)); then
  say "a tier received nothing: see $WORK/sidecar.log"
  exit 1
fi
