#!/usr/bin/env bash
# docker-compose.yml and the Dockerfile, checked by the tools that define
# them, without a Docker engine (scripts/composecheck):
#
#   compose     the Compose specification's loader (compose-go, schema
#               validation on: a misspelt or unknown key fails), with the
#               documented environment (deploy/otelcol-comfy.env.example);
#               then the sidecar's layout: OTLP not published to the host,
#               anything published on loopback only, comfy.instance=gpuN on
#               every ComfyUI, the sidecar command's --config files (in the
#               container, present in the repository) and feature gate
#   dockerfile  BuildKit's Dockerfile parser: multi-stage, pinned bases,
#               non-root USER, HEALTHCHECK, static binaries, COPY sources
#
# Prints one PASS/FAIL line per check and `CONFIGS <file>...` (the files the
# sidecar's command line loads, in order; scripts/validate-configs.sh runs
# `otelcol-comfy validate` on them). Exit status 1 if a check failed.
#
#   scripts/check-compose.sh [docker-compose.yml [Dockerfile]]
#
# The tool is built once into bin/composecheck (rebuilt when its sources
# change); its modules come from the Go module proxy into the module cache,
# bounded by COMPOSECHECK_BUILD_TIMEOUT (default 600 s) so a slow registry
# fails the check instead of hanging CI.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COMPOSE=${1:-docker-compose.yml}
DOCKERFILE=${2:-Dockerfile}
ENV_EXAMPLE=deploy/otelcol-comfy.env.example
SRC=scripts/composecheck
TOOL=$ROOT/bin/composecheck

stamp=$(cat "$SRC"/go.mod "$SRC"/go.sum "$SRC"/*.go | sha256sum | cut -c1-16)
if [ ! -x "$TOOL" ] || [ "$(cat "$TOOL.stamp" 2>/dev/null)" != "$stamp" ]; then
  mkdir -p "$ROOT/bin"
  # Its own module, outside go.work: compose-go and BuildKit stay out of
  # the collector's dependency graph.
  if ! (cd "$SRC" && GOWORK=off GOFLAGS=-mod=readonly timeout "${COMPOSECHECK_BUILD_TIMEOUT:-600}" go build -o "$TOOL" .) >"$ROOT/bin/composecheck.build.log" 2>&1; then
    echo "FAIL composecheck did not build (bin/composecheck.build.log): $(tail -n 3 "$ROOT/bin/composecheck.build.log" | tr '\n' ' ')"
    exit 1
  fi
  echo "$stamp" >"$TOOL.stamp"
fi

rc=0
# The checker's own tests: it rejects a misspelt key (testdata/misspelt, and
# misspellings of today's docker-compose.yml), published OTLP, ports off
# loopback, a missing comfy.instance, a command without configs or gate, and
# a root / health-check-less / unpinned / dynamic image.
if (cd "$SRC" && GOWORK=off GOFLAGS=-mod=readonly timeout 300 go test -count=1 ./...) >"$ROOT/bin/composecheck.test.log" 2>&1; then
  echo "PASS composecheck's tests: misspelt keys and each layout rule are caught"
else
  echo "FAIL composecheck's tests (bin/composecheck.test.log): $(tail -n 5 "$ROOT/bin/composecheck.test.log" | tr '\n' ' ')"
  rc=1
fi
"$TOOL" compose -env "$ENV_EXAMPLE" -dockerfile "$DOCKERFILE" "$COMPOSE" || rc=1
"$TOOL" dockerfile "$DOCKERFILE" || rc=1
exit $rc
