#!/usr/bin/env bash
# The dashboards in deploy/dashboards/, checked by real validators:
#
#   generated   both files and the queries' rules are what
#               deploy/dashboards/dashgen generates from panels.go
#   Grafana     otelcol-comfy.grafana.json through Grafana's foundation SDK:
#               strict decode (unknown or misspelt keys, wrong types) + Validate
#   Perses      otelcol-comfy.perses.json through `percli lint` (Perses v0.54.0,
#               the CLI Perses ships; Dash0 imports Perses dashboards)
#   PromQL      every query through `promtool check rules`, and
#               `promtool test rules`: each tier's panels show that tier only
#
# One PASS/FAIL line per check; exit status 1 if any failed.
#
# percli and dashgen are built from the Go module proxy (versions pinned in
# deploy/dashboards/dashgen/go.mod) into bin/, once, rebuilt when go.mod or
# the sources change; each build is bounded by DASHBOARDS_BUILD_TIMEOUT
# (default 900 s) so a slow registry fails the check instead of hanging CI.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SRC=deploy/dashboards/dashgen
BIN=$ROOT/bin
FAILS=0
pass() { printf 'PASS dashboards: %s\n' "$*"; }
fail() {
  printf 'FAIL dashboards: %s\n' "$*"
  FAILS=$((FAILS + 1))
}

# build NAME PACKAGE: go build PACKAGE (in the dashgen module) into bin/NAME
# unless bin/NAME was built from the same go.mod, go.sum and sources.
build() {
  local name=$1 pkg=$2 stamp
  stamp=$(cat "$SRC"/go.mod "$SRC"/go.sum "$SRC"/*.go | sha256sum | cut -c1-16)
  if [ -x "$BIN/$name" ] && [ "$(cat "$BIN/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  mkdir -p "$BIN"
  if (cd "$SRC" && GOWORK=off GOFLAGS=-mod=readonly timeout "${DASHBOARDS_BUILD_TIMEOUT:-900}" go build -o "$BIN/$name" "$pkg") >"$BIN/$name.build.log" 2>&1; then
    echo "$stamp" >"$BIN/$name.stamp"
  else
    fail "$name did not build (bin/$name.build.log): $(tail -n 3 "$BIN/$name.build.log" | tr '\n' ' ')"
    return 1
  fi
}

if build dashgen . && build percli github.com/perses/perses/cmd/percli; then
  # dashgen check prints its own PASS/FAIL lines.
  out=$(cd "$SRC" && "$BIN/dashgen" check)
  echo "$out"
  FAILS=$((FAILS + $(grep -c '^FAIL' <<<"$out")))
  if (cd "$SRC" && GOWORK=off GOFLAGS=-mod=readonly timeout 300 go test -count=1 ./...) >"$BIN/dashgen.test.log" 2>&1; then
    pass "dashgen's tests: the Grafana check rejects misspelt keys, unknown options and wrong types"
  else
    fail "dashgen's tests (bin/dashgen.test.log): $(tail -n 5 "$BIN/dashgen.test.log" | tr '\n' ' ')"
  fi
  if lint=$("$BIN/percli" lint -f deploy/dashboards/otelcol-comfy.perses.json 2>&1); then
    pass "percli lint (Perses $(sed -n 's/^\tgithub.com\/perses\/perses \(v[^ ]*\).*/\1/p' "$SRC/go.mod")) otelcol-comfy.perses.json: $lint"
  else
    fail "percli lint otelcol-comfy.perses.json: $lint"
  fi
fi

if command -v promtool >/dev/null; then
  if out=$(promtool check rules "$SRC/testdata/queries.rules.yml" 2>&1); then
    pass "promtool check rules: every dashboard query parses ($(grep -o '[0-9]* rules found' <<<"$out"))"
  else
    fail "promtool check rules $SRC/testdata/queries.rules.yml: $(tr '\n' ' ' <<<"$out")"
  fi
  if out=$(cd "$SRC/testdata" && promtool test rules queries.test.yml 2>&1); then
    pass "promtool test rules: each tier's panels select that tier's exporter only"
  else
    fail "promtool test rules $SRC/testdata/queries.test.yml: $(tr '\n' ' ' <<<"$out")"
  fi
elif [ "${SKIP_PROMTOOL:-0}" = 1 ]; then
  printf 'SKIP dashboards: promtool not installed (SKIP_PROMTOOL=1)\n'
else
  fail "promtool not installed: apt-get install -y --no-install-recommends prometheus"
fi

((FAILS == 0))
