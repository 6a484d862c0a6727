package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// stockStepConfigs are the steps between the plain forwarder and production
// in TestBenchPipelineOverhead, built from the production files themselves
// (configs/sidecar.yaml, configs/backend/dash0.yaml) so they never drift:
//
//   - queued: the forwarder plus tier 1's persistent queue exactly as
//     production configures it (file_storage/queue, bytes sizer, batch by
//     bytes): stock parts only, no ComfyUI component, no Redis.
//   - tailing: that plus the file_log receiver exactly as production
//     configures it (four files polled every 25 ms, offsets in file_storage).
//
// Their telemetry is the forwarder's (none), so each step adds one thing.
func stockStepConfigs(t *testing.T, dir string) (queued, tailing string) {
	t.Helper()
	side := readYAML(t, harness.SidecarConfig(t))
	dash0 := readYAML(t, filepath.Join(harness.RepoRoot(t), "configs", "backend", "dash0.yaml"))
	exp := get(t, dash0, "exporters", "otlp_grpc/dash0")
	exp["tls"] = map[string]any{"insecure": true} // the stand-in is plaintext, as in production's test overlay
	ext := get(t, side, "extensions")
	rcv := get(t, side, "receivers")

	build := func(withTailing bool) map[string]any {
		// pprof (idle unless profiled) so BENCH_PPROF_DIR profiles each step.
		extensions := map[string]any{"health_check": ext["health_check"], "file_storage/queue": ext["file_storage/queue"], "pprof": ext["pprof"]}
		receivers := map[string]any{"otlp": rcv["otlp"]}
		extNames := []any{"health_check", "file_storage/queue", "pprof"}
		rcvNames := []any{"otlp"}
		if withTailing {
			extensions["file_storage"] = ext["file_storage"]
			receivers["file_log"] = rcv["file_log"]
			extNames = append(extNames, "file_storage")
			rcvNames = append(rcvNames, "file_log")
		}
		return map[string]any{
			"extensions": extensions,
			"receivers":  receivers,
			"exporters":  map[string]any{"otlp_grpc/dash0": exp},
			"service": map[string]any{
				"extensions": extNames,
				"telemetry":  map[string]any{"metrics": map[string]any{"level": "none"}},
				"pipelines": map[string]any{"logs": map[string]any{
					"receivers": rcvNames, "exporters": []any{"otlp_grpc/dash0"},
				}},
			},
		}
	}
	return writeYAML(t, dir, "stock-queued.yaml", build(false)), writeYAML(t, dir, "stock-tailing.yaml", build(true))
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// get walks nested maps; a missing key fails the test, naming the path.
func get(t *testing.T, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	cur := m
	for i, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			t.Fatalf("production config has no %v", keys[:i+1])
		}
		cur = next
	}
	return cur
}

func writeYAML(t *testing.T, dir, name string, m map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
