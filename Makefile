# otelcol-comfy: build, test, run. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := build

ROOT      := $(abspath .)
BIN       := $(ROOT)/bin
OCB       := $(BIN)/ocb
MDATAGEN  := $(BIN)/mdatagen
COLLECTOR := $(BIN)/otelcol-comfy
COMFYCTL  := $(BIN)/comfyctl

# Every Go module of ours; `make test` runs each one's tests.
COMPONENTS := processor/comfypatternprocessor processor/comfyjobprocessor exporter/redisrouterexporter
MODULES    := $(COMPONENTS) confmap/provider/strictenvprovider cmd/comfyctl tests/e2e

export OTELCOL_COMFY_BIN := $(COLLECTOR)
export COMFYCTL_BIN      := $(COMFYCTL)
export CORPUS_DIR        ?= $(abspath ../shared/corpus)

.PHONY: build collector comfyctl tools generate test test-unit test-e2e bench run demo reliability validate-configs check-pins fmt clean

build: collector comfyctl

tools: $(OCB) $(MDATAGEN)
$(OCB): internal/tools/go.mod
	cd internal/tools && GOWORK=off go build -o $(OCB) go.opentelemetry.io/collector/cmd/builder
$(MDATAGEN): internal/tools/go.mod
	cd internal/tools && GOWORK=off go build -o $(MDATAGEN) go.opentelemetry.io/collector/cmd/mdatagen

# ocb needs GOWORK=off; the replaces in builder-config.yaml point it at our modules.
# flock: several shells (or helpers) may build at once; ocb rewrites _build/.
collector: $(OCB) check-pins
	@mkdir -p $(BIN)
	flock $(ROOT)/.build.lock sh -c 'GOWORK=off $(OCB) --config builder-config.yaml && cp _build/otelcol-comfy $(COLLECTOR).tmp && mv $(COLLECTOR).tmp $(COLLECTOR)'

comfyctl:
	cd cmd/comfyctl && go build -o $(COMFYCTL) .

# Regenerate mdatagen output (internal/metadata, documentation.md) for our components.
generate: $(MDATAGEN)
	for c in $(COMPONENTS); do (cd $$c && $(MDATAGEN) metadata.yaml) || exit 1; done

# go mod tidy silently pulls newer collector modules; fail the build if any of
# ours requires a collector module beyond the pinned release.
check-pins:
	@bad=$$(grep -hE 'go.opentelemetry.io/collector/[^ ]+ v(1\.(6[6-9]|[7-9][0-9])|0\.(16[0-9]|1[7-9][0-9]))\.' $(addsuffix /go.mod,$(MODULES)) 2>/dev/null; \
	       grep -hE 'opentelemetry-collector-contrib/[^ ]+ v0\.(16[0-9]|1[7-9][0-9])\.' $(addsuffix /go.mod,$(MODULES)) 2>/dev/null); \
	 if [ -n "$$bad" ]; then echo "collector modules newer than the pinned v0.159.0/v1.65.0:"; echo "$$bad"; exit 1; fi

test: build test-unit validate-configs test-e2e

test-unit:
	for m in $(MODULES); do [ "$$m" = tests/e2e ] && continue; echo "== $$m"; (cd $$m && go test -count=1 ./...) || exit 1; done

test-e2e: build
	cd tests/e2e && go test -count=1 -timeout 20m ./...

validate-configs: collector
	./scripts/validate-configs.sh

bench: build
	./scripts/bench.sh

reliability: build
	cd tests/e2e && RELIABILITY=full go test -count=1 -timeout 60m -run 'TestReliability' -v ./...

run: build
	./scripts/run-local.sh

demo: build
	./scripts/demo.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf _build bin
