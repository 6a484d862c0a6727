#!/usr/bin/env bash
# `make validate-configs` (part of `make test`): everything deployable is
# checked without a Docker engine or a GPU machine.
#
#   configs   every configs/*.yaml passes `otelcol-comfy validate` with the
#             documented environment (deploy/otelcol-comfy.env.example), for
#             each TELEMETRY_TARGET; a missing required variable fails naming it
#   env file  documents every variable the configs read
#   compose   scripts/check-compose.sh: docker-compose.yml through compose-go
#   Docker    (schema on) and the Dockerfile through BuildKit's parser, with
#             the sidecar's layout; the configs its command loads validate
#   dashboards scripts/check-dashboards.sh: deploy/dashboards/ through percli lint,
#             Grafana's foundation SDK (strict) and promtool
#   alerts    promtool check rules + promtool test rules (SKIP_PROMTOOL=1 to
#             skip where promtool is not installed; CI installs it)
#   PM2       ecosystem log file names match the sidecar's file_log include
#
# One PASS/FAIL line per check; exit status 1 if any failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=${OTELCOL_COMFY_BIN:-$ROOT/bin/otelcol-comfy}
ENV_EXAMPLE=deploy/otelcol-comfy.env.example
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

FAILS=0
pass() { printf 'PASS %s\n' "$*"; }
fail() {
  printf 'FAIL %s\n' "$*"
  FAILS=$((FAILS + 1))
}
skip() { printf 'SKIP %s\n' "$*"; }

[ -x "$BIN" ] || {
  echo "FAIL $BIN not found: run 'make build'"
  exit 1
}

# The documented environment: the example file's uncommented assignments,
# in an otherwise empty environment so the caller's variables cannot help.
mapfile -t DOC_ENV < <(grep -E '^[A-Z_][A-Z0-9_]*=' "$ENV_EXAMPLE")
# validate OUTFILE [VAR=VALUE | -VAR]... -- CONFIG...   (-VAR removes VAR)
validate() {
  local out=$1
  shift
  local -a vars=("${DOC_ENV[@]}")
  while [ "$1" != "--" ]; do
    if [[ $1 == -* ]]; then
      local name=${1#-} i
      for i in "${!vars[@]}"; do [[ ${vars[i]} == "$name="* ]] && unset 'vars[i]'; done
    else
      vars+=("$1")
    fi
    shift
  done
  shift
  local -a args=()
  local f
  for f in "$@"; do args+=(--config "$f"); done
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" "${vars[@]}" "$BIN" validate "${args[@]}" "$GATES" >"$out" 2>&1
}
expect_valid() { # expect_valid DESCRIPTION [VAR=VALUE|-VAR]... -- CONFIG...
  local what=$1
  shift
  if validate "$TMP/out" "$@"; then pass "$what"; else fail "$what: $(tail -n 3 "$TMP/out" | tr '\n' ' ')"; fi
}

# The feature gates every launcher passes (checked below): the health_check
# configuration needs extension.healthcheck.useComponentStatus to validate.
GATES='--feature-gates=stanza.synchronousLogEmitter,extension.healthcheck.useComponentStatus'

echo "== configs (documented env: $ENV_EXAMPLE)"
SIDECAR=configs/sidecar.yaml
backend() { echo "configs/backend/$1.yaml"; }
expect_valid "sidecar.yaml + backend/dash0.yaml" -- "$SIDECAR" "$(backend dash0)"
expect_valid "sidecar.yaml + backend/collector.yaml (no DASH0_* needed)" \
  TELEMETRY_TARGET=collector OTEL_COLLECTOR_ENDPOINT=gateway:4317 -DASH0_ENDPOINT -DASH0_AUTH_TOKEN -DASH0_DATASET -- "$SIDECAR" "$(backend collector)"
expect_valid "sidecar.yaml + backend/remote-collector.yaml" \
  TELEMETRY_TARGET=remote-collector OTEL_COLLECTOR_ENDPOINT=gateway.example.com:4317 -DASH0_AUTH_TOKEN -- "$SIDECAR" "$(backend remote-collector)"
expect_valid "sidecar.yaml + backend/disabled.yaml" TELEMETRY_TARGET=disabled -DASH0_ENDPOINT -DASH0_AUTH_TOKEN -- "$SIDECAR" "$(backend disabled)"
expect_valid "sidecar.yaml with REDIS_URL (rediss://)" REDIS_URL=rediss://user:secret@redis.example.com:6380/0 -- "$SIDECAR" "$(backend dash0)"
expect_valid "local.yaml (make run), no Redis" -- "$SIDECAR" "$(backend disabled)" configs/local.yaml configs/local-no-redis.yaml
expect_valid "local.yaml (make run), REDIS_URL set" REDIS_URL=redis://127.0.0.1:6379 -- "$SIDECAR" "$(backend disabled)" configs/local.yaml
expect_valid "dash0-standin.yaml" STANDIN_OUTPUT_FILE="$TMP/standin.jsonl" -- configs/dash0-standin.yaml
expect_valid "tests' plaintext stand-in overlay" -- "$SIDECAR" "$(backend dash0)" tests/e2e/testdata/dash0-plaintext.yaml

echo "== stock syntax only"
# ${env:NAME} and ${env:NAME:-DEFAULT}: nothing that other collector tools
# would not understand (the old private `:?COND` and `:|map` extensions).
private=$(grep -rnE '\$\{(env:)?[A-Za-z_][A-Za-z0-9_]*:[?|]|\$\{(env:)?[A-Za-z_][A-Za-z0-9_]*:-[^}]*:\|' configs/ || true)
[ -z "$private" ] && pass "configs/ use only \${env:NAME} and \${env:NAME:-DEFAULT}" || fail "private placeholder syntax: $private"
grep -rqn 'unused.invalid' configs/ && fail "configs/ still hold placeholder exporters (unused.invalid)" || pass "no placeholder exporters"
grep -rqnE 'insecure: *["]?[$][{]' configs/sidecar.yaml configs/backend/ && fail "an insecure switch is in the production config" || pass "no insecure switch in the production config"
if "${COMFYCTL_BIN:-$ROOT/bin/comfyctl}" classify --config "$SIDECAR" </dev/null >"$TMP/classify" 2>&1; then
  pass "comfyctl classify --config $SIDECAR runs"
else
  fail "comfyctl classify --config $SIDECAR: $(tail -n 2 "$TMP/classify" | tr '\n' ' ')"
fi

echo "== required variables: every missing one named, in one message"
if validate "$TMP/out" -MACHINE_ID -DASH0_ENDPOINT -DASH0_AUTH_TOKEN -DASH0_DATASET -- "$SIDECAR" "$(backend dash0)"; then
  fail "empty environment: validate passed"
elif grep -q 'required environment variables are unset or empty: DASH0_AUTH_TOKEN, DASH0_DATASET, DASH0_ENDPOINT, MACHINE_ID' "$TMP/out"; then
  pass "empty environment: $(grep -o 'required environment variables[^"]*' "$TMP/out" | head -n 1)"
else
  fail "empty environment: $(tail -n 2 "$TMP/out" | tr '\n' ' ')"
fi
expect_missing() { # expect_missing DESCRIPTION NAME [VAR=VALUE|-VAR]... -- CONFIG...
  local what=$1 name=$2
  shift 2
  if validate "$TMP/out" "$@"; then
    fail "$what: validate passed"
  elif grep -qE "unset or empty: .*\b$name\b" "$TMP/out"; then
    pass "$what: names $name"
  else
    fail "$what: the error does not name $name: $(tail -n 2 "$TMP/out" | tr '\n' ' ')"
  fi
}
expect_missing "MACHINE_ID empty" MACHINE_ID -MACHINE_ID MACHINE_ID= -- "$SIDECAR" "$(backend dash0)"
expect_missing "collector without OTEL_COLLECTOR_ENDPOINT" OTEL_COLLECTOR_ENDPOINT TELEMETRY_TARGET=collector -- "$SIDECAR" "$(backend collector)"
expect_missing "remote-collector without OTEL_COLLECTOR_ENDPOINT" OTEL_COLLECTOR_ENDPOINT -- "$SIDECAR" "$(backend remote-collector)"
expect_missing "stand-in without STANDIN_OUTPUT_FILE" STANDIN_OUTPUT_FILE -- configs/dash0-standin.yaml

echo "== bad values fail validate, naming the field"
expect_bad() { # expect_bad DESCRIPTION FIELD-TEXT [VAR=VALUE|-VAR]... -- CONFIG...
  local what=$1 field=$2
  shift 2
  if validate "$TMP/out" "$@"; then
    fail "$what: validate passed"
  elif grep -qF -- "$field" "$TMP/out"; then
    pass "$what: $(grep -F -- "$field" "$TMP/out" | head -n 1 | sed 's/^Error: .*cannot convert the confmap.Conf: //' | cut -c1-150)"
  else
    fail "$what: the error does not name $field: $(tail -n 2 "$TMP/out" | tr '\n' ' ' | cut -c1-300)"
  fi
}
expect_bad "REDIS_PORT=notaport" 'redisrouter/progress::endpoint' REDIS_PORT=notaport -- "$SIDECAR" "$(backend dash0)"
expect_bad "REDIS_HOST='bad host'" 'redisrouter/failures::endpoint' "REDIS_HOST=bad host" -- "$SIDECAR" "$(backend dash0)"
expect_bad "REDIS_URL=redis://h:6379/abc" 'url' REDIS_URL=redis://h:6379/abc -- "$SIDECAR" "$(backend dash0)"
expect_bad "OTELCOL_METRICS_PORT=70000" 'prometheus::port' OTELCOL_METRICS_PORT=70000 -- "$SIDECAR" "$(backend dash0)"
expect_bad "OTLP_GRPC_ENDPOINT=nonsense" 'receivers::otlp::protocols::grpc::endpoint' OTLP_GRPC_ENDPOINT=nonsense -- "$SIDECAR" "$(backend dash0)"
expect_bad "DASH0_ENDPOINT=nonsense" 'otlp_grpc/dash0::endpoint' DASH0_ENDPOINT=nonsense -- "$SIDECAR" "$(backend dash0)"

echo "== env file documents every variable"
undocumented=()
for name in $(grep -vhE '^\s*#' "$SIDECAR" configs/backend/*.yaml | grep -oE '\$\{env:[A-Za-z_][A-Za-z0-9_]*' | sed 's/.*env://' | sort -u); do
  grep -qE "^#?$name=" "$ENV_EXAMPLE" || undocumented+=("$name")
done
if ((${#undocumented[@]})); then fail "$ENV_EXAMPLE lacks: ${undocumented[*]}"; else pass "$ENV_EXAMPLE lists every variable sidecar.yaml reads"; fi

# ---- compose and image (scripts/check-compose.sh: compose-go loader, BuildKit parser) ----
check_compose_and_image() {
  echo "== docker-compose.yml and Dockerfile (scripts/check-compose.sh)"
  scripts/check-compose.sh >"$TMP/compose" 2>&1
  grep -E '^(PASS|FAIL)' "$TMP/compose"
  FAILS=$((FAILS + $(grep -c '^FAIL' "$TMP/compose")))
  grep -qE '^(PASS|FAIL)' "$TMP/compose" || fail "check-compose.sh did not run: $(tail -n 3 "$TMP/compose" | tr '\n' ' ')"
  # The files the sidecar's command line loads in the container, merged in
  # that order, with the container's fixed environment on top of the env file.
  local -a configs
  read -ra configs < <(sed -n 's/^CONFIGS //p' "$TMP/compose")
  if ((${#configs[@]})); then
    expect_valid "the compose sidecar's configs validate together: ${configs[*]#"$ROOT"/}" \
      COMFYUI_LOG_DIR=/var/log/comfyui OTELCOL_STORAGE_DIR=/var/lib/otelcol-comfy -- "${configs[@]}"
  else
    fail "check-compose.sh named no config file of the sidecar"
  fi
  grep -q 'go.opentelemetry.io/collector/cmd/builder v0.159.0' internal/tools/go.mod &&
    pass "ocb pinned at v0.159.0 (internal/tools/go.mod)" || fail "ocb is not pinned at v0.159.0 in internal/tools/go.mod"
}
check_compose_and_image
# ---- end compose and image ----

# ---- dashboards (scripts/check-dashboards.sh: foundation SDK, percli lint, promtool) ----
echo "== dashboards (scripts/check-dashboards.sh)"
scripts/check-dashboards.sh >"$TMP/dash" 2>&1
grep -E '^(PASS|FAIL|SKIP)' "$TMP/dash"
FAILS=$((FAILS + $(grep -c '^FAIL' "$TMP/dash")))
grep -qE '^(PASS|FAIL)' "$TMP/dash" || fail "check-dashboards.sh did not run: $(tail -n 3 "$TMP/dash" | tr '\n' ' ')"
# ---- end dashboards ----

echo "== Prometheus alert rules"
if command -v promtool >/dev/null; then
  if promtool check rules deploy/prometheus/alerts.yml >"$TMP/promtool" 2>&1; then
    pass "promtool check rules: $(grep -o '[0-9]* rules found' "$TMP/promtool")"
  else
    fail "promtool check rules: $(tr '\n' ' ' <"$TMP/promtool")"
  fi
  if (cd deploy/prometheus && promtool test rules alerts.test.yml) >"$TMP/promtest" 2>&1; then
    pass "promtool test rules: each threshold fires above it and not below"
  else
    fail "promtool test rules: $(tr '\n' ' ' <"$TMP/promtest")"
  fi
elif [ "${SKIP_PROMTOOL:-0}" = 1 ]; then
  skip "promtool not installed (SKIP_PROMTOOL=1); apt-get install prometheus"
else
  fail "promtool not installed: apt-get install -y --no-install-recommends prometheus (or SKIP_PROMTOOL=1 locally)"
fi

echo "== PM2 ecosystem"
if command -v node >/dev/null; then
  if node -e '
    const apps = require(process.argv[1]).apps;
    const re = /\/comfyui-([^/]+)-(out|error)\.log$/;
    let bad = 0;
    for (const a of apps.filter(a => a.name.startsWith("comfyui-"))) {
      const inst = a.name.slice("comfyui-".length);
      for (const [f, s] of [[a.out_file, "out"], [a.error_file, "error"]]) {
        const m = re.exec(f || "");
        if (!m || m[1] !== inst || m[2] !== s) { console.log("bad log file for " + a.name + ": " + f); bad++; }
      }
    }
    if (!apps.some(a => a.name === "otelcol-comfy")) { console.log("no otelcol-comfy app"); bad++; }
    if (apps.filter(a => a.name.startsWith("comfyui-gpu")).length < 2) { console.log("fewer than two comfyui-gpu apps"); bad++; }
    process.exit(bad ? 1 : 0);' "$ROOT/deploy/ecosystem.config.js" >"$TMP/pm2" 2>&1; then
    pass "ecosystem.config.js: comfyui-gpu0/gpu1 log to comfyui-<instance>-{out,error}.log, plus otelcol-comfy"
  else
    fail "ecosystem.config.js: $(tr '\n' ' ' <"$TMP/pm2")"
  fi
else
  skip "node not installed: ecosystem.config.js not checked"
fi

echo "== the sidecar's command line"
# Every way of starting the sidecar passes the same feature gates, and the
# e2e harness tests with them (configs/sidecar.yaml: poll_interval and
# health_check comments), and merges the backend TELEMETRY_TARGET picks.
GATE=$GATES
for f in Dockerfile deploy/ecosystem.config.js scripts/demo.sh scripts/run-local.sh tests/e2e/harness/sidecar.go; do
  grep -qF -- "$GATE" "$f" && pass "$f starts the sidecar with $GATE" || fail "$f does not pass $GATE"
done
for f in Dockerfile deploy/ecosystem.config.js scripts/demo.sh scripts/run-local.sh tests/e2e/harness/paths.go; do
  grep -qE 'backend/\$\{?TELEMETRY_TARGET|"backend", target' "$f" && pass "$f merges configs/backend/<TELEMETRY_TARGET>.yaml" || fail "$f does not pick the backend from TELEMETRY_TARGET"
done

echo "== README commands, as written"
scripts/check-readme.sh >"$TMP/readme" 2>&1
cat "$TMP/readme"
FAILS=$((FAILS + $(grep -c '^FAIL' "$TMP/readme")))
grep -qE '^PASS README' "$TMP/readme" || fail "scripts/check-readme.sh ran no command"

echo "== scripts"
for s in scripts/*.sh; do
  bash -n "$s" 2>"$TMP/sh" && pass "bash -n $s" || fail "bash -n $s: $(cat "$TMP/sh")"
done

echo
if ((FAILS)); then
  echo "validate-configs: $FAILS check(s) FAILED"
  exit 1
fi
echo "validate-configs: all checks passed"
