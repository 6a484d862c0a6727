#!/usr/bin/env bash
# Every command in the README's ```sh blocks works as written (part of
# `make test` via validate-configs.sh). Each runs from the repository root
# with the built binaries; what a command needs from outside (a comfyui.log
# to classify, a Redis to monitor) is provided here, never by editing the
# command. Commands that run until Ctrl-C pass when they are still running,
# without an error, after a few seconds. `make test` itself is skipped (it is
# what runs this), `make demo` runs in full.
#
# One PASS/FAIL line per command; exit status 1 if any failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TMP=$(mktemp -d)
FAILS=0
cleanup() {
  [ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null
  rm -f "$ROOT/comfyui.log" "$ROOT/events.jsonl"
  rm -rf "$TMP"
}
trap cleanup EXIT
pass() { printf 'PASS README: %s\n' "$*"; }
fail() { printf 'FAIL README: %s\n' "$*"; FAILS=$((FAILS + 1)); }

# The commands: lines of ```sh blocks, `\\` continuations joined, comments dropped.
mapfile -t CMDS < <(awk '
  /^```sh$/ { inb = 1; next }
  /^```/    { inb = 0; next }
  inb {
    line = $0
    sub(/[ \t]+#.*$/, "", line)
    if (line ~ /^[ \t]*$/) next
    if (cont != "") { line = cont " " line; cont = "" }
    if (line ~ /\\$/) { sub(/[ \t]*\\$/, "", line); cont = line; next }
    print line
  }' README.md)
((${#CMDS[@]} > 5)) || { echo "FAIL README: found only ${#CMDS[@]} commands in README.md"; exit 1; }

# What the commands expect around them.
CORPUS=${CORPUS_DIR:-$ROOT/../shared/corpus}
[ -d "$CORPUS/sessions" ] || { echo "FAIL README: the shared corpus is missing at $CORPUS (set CORPUS_DIR)"; exit 1; }
session=$(ls "$CORPUS"/sessions/*.log | head -n 1)
cp "$session" "$ROOT/comfyui.log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" --logfile "$TMP/redis.log" &
REDIS_PID=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REDIS_URL=redis://127.0.0.1:$port/0 MACHINE_ID=readme-check

declare -A SEEN=()
for cmd in "${CMDS[@]}"; do
  [ -n "${SEEN[$cmd]:-}" ] && continue
  SEEN[$cmd]=1
  case $cmd in
    "make test"*) printf 'SKIP README: %s (this is the run that checks it)\n' "$cmd"; continue ;;
  esac
  long=0
  [[ $cmd == *monitor* && $cmd != *--duration* && $cmd != *--count* ]] && long=1
  if ((long)); then
    timeout 4 bash -c "$cmd" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
    if [ "$rc" = 124 ] && ! grep -qiE 'usage|error|unknown' "$TMP/err"; then pass "$cmd (still running after 4 s, no error)"; else fail "$cmd: exit $rc: $(head -c 300 "$TMP/err")"; fi
    continue
  fi
  if timeout 600 bash -c "$cmd" >"$TMP/out" 2>"$TMP/err" </dev/null; then
    pass "$cmd"
  else
    fail "$cmd: exit $?: $(tail -n 3 "$TMP/err" | head -c 400)"
  fi
done
((FAILS)) && exit 1
exit 0
