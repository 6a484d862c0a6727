// Package harness drives the built otelcol-comfy binary for the end-to-end
// and reliability tests: it starts the collector (the sidecar, and a second
// instance of itself as the Dash0 stand-in), a real redis-server, OTLP
// clients built on the OpenTelemetry Go logs SDK, and writers that append
// real ComfyUI session logs to tailed files. Every port is a free port chosen
// by the test, so tests run in parallel with a developer's own collector.
package harness

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot walks up from the working directory to the directory holding
// builder-config.yaml (go test runs in the package directory).
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "builder-config.yaml")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			tb.Fatalf("no builder-config.yaml above %s", dir)
		}
	}
}

// CollectorBin is the otelcol-comfy binary under test: $OTELCOL_COMFY_BIN
// (the Makefile exports it) or bin/otelcol-comfy in the repository. Tests
// fail, not skip, when it is missing: `make test` builds it first.
func CollectorBin(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv("OTELCOL_COMFY_BIN")
	if bin == "" {
		bin = filepath.Join(RepoRoot(tb), "bin", "otelcol-comfy")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		tb.Fatalf("collector binary %s: %v (run `make build` first)", abs, err)
	}
	return abs
}

// SidecarConfig is the production config the tests drive: configs/sidecar.yaml
// ($E2E_SIDECAR_CONFIG may point at a candidate config while developing one).
func SidecarConfig(tb testing.TB) string {
	tb.Helper()
	p := os.Getenv("E2E_SIDECAR_CONFIG")
	if p == "" {
		p = filepath.Join(RepoRoot(tb), "configs", "sidecar.yaml")
	}
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("production config: %v", err)
	}
	return p
}

// SidecarConfigs are the --config files the production launchers pass for a
// TELEMETRY_TARGET: configs/sidecar.yaml, then configs/backend/<target>.yaml.
// plaintextDash0 adds tests/e2e/testdata/dash0-plaintext.yaml, the tests' own
// overlay for a stand-in without TLS (production has no such switch).
func SidecarConfigs(tb testing.TB, target string, plaintextDash0 bool) []string {
	tb.Helper()
	if target == "" {
		target = "dash0"
	}
	out := []string{SidecarConfig(tb), filepath.Join(RepoRoot(tb), "configs", "backend", target+".yaml")}
	if plaintextDash0 && target == "dash0" {
		out = append(out, filepath.Join(RepoRoot(tb), "tests", "e2e", "testdata", "dash0-plaintext.yaml"))
	}
	for _, p := range out {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("sidecar config: %v", err)
		}
	}
	return out
}

// CorpusDir is the real ComfyUI log corpus: $CORPUS_DIR (the Makefile
// exports it) or shared/corpus beside the repository.
func CorpusDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("CORPUS_DIR"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			if _, err := os.Stat(abs); err == nil {
				return abs
			}
		}
	}
	d := filepath.Join(filepath.Dir(RepoRoot(tb)), "shared", "corpus")
	if _, err := os.Stat(d); err != nil {
		tb.Fatalf("corpus not found (set CORPUS_DIR): %v", err)
	}
	return d
}

// SessionPath is one real session log of the corpus, by file name.
func SessionPath(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(CorpusDir(tb), "sessions", name)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("session log: %v", err)
	}
	return p
}
