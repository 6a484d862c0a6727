package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// The pipeline benchmarks (issue 5), run by scripts/bench-pipeline.sh
// (part of `make bench`) with BENCH_PIPELINE=1. They print tables; they
// assert nothing about speed (shared machines drift): the figures and the
// targets go to docs/benchmarks.md.

func benchEnabled(t *testing.T) {
	if os.Getenv("BENCH_PIPELINE") != "1" {
		t.Skip("set BENCH_PIPELINE=1 (scripts/bench-pipeline.sh) to run the pipeline benchmarks")
	}
}

// TestBenchPipelineLatency: a progress line appended to a tailed file, and a
// progress record sent over OTLP, to its arrival at a Redis subscriber;
// p50/p99/max at 100 and 1000 lines/s, in one sidecar run.
func TestBenchPipelineLatency(t *testing.T) {
	benchEnabled(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	machine := "bench-latency"
	st := newStack(t, stackOptions{machineID: machine, instances: []string{"gpu0", "gpu1"}})
	st.sidecar.StartHealthy(startTimeout)
	lf, err := harness.OpenLogFile(st.sidecar.LogPath("gpu1", "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	client := harness.NewClient(t, harness.Job{MachineID: machine, JobID: "bench-job", WorkflowID: "bench-wf", Instance: "gpu0"},
		harness.ClientOptions{Endpoint: st.sidecar.OTLPEndpoint()})

	tb := harness.Table{Header: []string{"source", "rate/s", "sent", "received", "p50 ms", "p99 ms", "max ms", "p99 < 50 ms"}}
	next := 100000 // unique bar totals: each line is its own finished bar
	for _, rate := range []int{100, 1000} {
		dur := 5 * time.Second
		n := int(float64(rate) * dur.Seconds())
		for _, source := range []string{"tailed file", "OTLP"} {
			sentAt := make(map[int]time.Time, n)
			first := next
			interval := time.Second / time.Duration(rate)
			start := time.Now()
			for i := 0; i < n; i++ {
				total := next
				next++
				due := start.Add(time.Duration(i) * interval)
				sleepCtx(ctx, time.Until(due))
				line := fmt.Sprintf("100%%|██████████| %d/%d [00:01<00:00, 9.99it/s]", total, total)
				sentAt[total] = time.Now()
				if source == "OTLP" {
					client.Emit(ctx, harness.Rec{Body: line})
				} else if _, err := lf.Write([]byte(line + "\n")); err != nil {
					t.Fatal(err)
				}
			}
			last := next - 1
			var lat harness.Latencies
			_ = harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func() error {
				lat = harness.Latencies{}
				seen := map[int]bool{}
				for _, m := range st.sub.Messages() {
					p := m.Progress
					if p == nil || p.Progress.Total == nil {
						continue
					}
					tot := int(*p.Progress.Total)
					if tot < first || tot > last || seen[tot] {
						continue
					}
					seen[tot] = true
					lat.Add(m.Received.Sub(sentAt[tot]))
				}
				if len(seen) < n {
					return fmt.Errorf("%d/%d", len(seen), n)
				}
				return nil
			})
			ok := "yes"
			if lat.Percentile(99) >= 50*time.Millisecond {
				ok = "no"
			}
			tb.Add(source, rate, n, lat.Len(), harness.Ms(lat.Percentile(50)), harness.Ms(lat.Percentile(99)), harness.Ms(lat.Max()), ok)
			sleepCtx(ctx, time.Second)
		}
	}
	out := "\nPipeline latency to a Redis subscriber (production config, progress lines, each its own finished bar):\n" + tb.Markdown()
	fmt.Print(out)
	writeBenchOut(t, "latency", out)
}

// baselineConfig is the comparison collector: only otlp in and otlp_grpc out.
const baselineConfig = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:OTLP_GRPC_ENDPOINT}
exporters:
  otlp_grpc:
    endpoint: ${env:DASH0_ENDPOINT}
    tls:
      insecure: true
extensions:
  health_check:
    http:
      endpoint: ${env:OTELCOL_HEALTH_CHECK_ENDPOINT}
      status:
        enabled: true
        path: /status
service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlp_grpc]
`

// TestBenchPipelineOverhead: CPU seconds and peak RSS of the production
// pipeline at 1k and 10k records/s (telemetrygen, ComfyUI-like lines) next
// to the same binary with only otlp in and otlp_grpc out, in two request
// shapes: the SDK's (ComfyUI's batch processor sends 512 records per request,
// platform.md), and a harsher one of 100 records per request. CPU is counted
// over the same window for both (the load, then until the last record is at
// the stand-in), so the sidecar's idle work (tailing four files every 25 ms)
// is part of its cost.
func TestBenchPipelineOverhead(t *testing.T) {
	benchEnabled(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	dir := t.TempDir()
	base := filepath.Join(dir, "baseline.yaml")
	if err := os.WriteFile(base, []byte(baselineConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	queued, tailing := stockStepConfigs(t, dir)
	const seconds = 10
	tb := harness.Table{Header: []string{"pipeline", "rate/s", "records/request", "records", "delivered", "CPU s", "CPU % of 1 core", "× forwarder", "peak RSS MiB", "RSS < 100 MiB"}}
	for _, batch := range []int{512, 100} {
		for _, rate := range []int{1000, 10000} {
			if !benchShapeWanted(rate, batch) {
				continue
			}
			var baseCPU float64
			for _, cfg := range []struct{ key, name, path string }{
				{"forwarder", "baseline otlp -> otlp_grpc", base},
				{"queued", "+ tier-1 disk queue (stock)", queued},
				{"tailing", "+ file_log tailing (stock)", tailing},
				{"production", "production (sidecar.yaml)", ""},
			} {
				t.Run(fmt.Sprintf("%s@%d/%d", cfg.name, rate, batch), func(t *testing.T) {
					st := newStack(t, stackOptions{machineID: "bench-overhead", instances: []string{"gpu0", "gpu1"}, config: cfg.path})
					st.sidecar.StartHealthy(startTimeout)
					sleepCtx(ctx, time.Second)
					before := st.sidecar.Usage()
					workers := max(1, rate/2500)
					per := rate / workers
					run := "ov-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
					// BENCH_PPROF_DIR: a CPU profile of each run's load
					// window, for docs/benchmarks.md (the baseline has no
					// pprof extension).
					if cfg.path != base {
						stopProfile := profileCPU(ctx, t, st.sidecar.Pprof, seconds, fmt.Sprintf("cpu-%d-%d-%s.pb.gz", rate, batch, cfg.key))
						defer stopProfile()
					}
					out, err := harness.RunTelemetrygen(ctx, t, "--otlp-endpoint", st.sidecar.OTLPEndpoint(), "--otlp-insecure",
						"--workers", strconv.Itoa(workers), "--rate", strconv.Itoa(per), "--logs", strconv.Itoa(per*seconds),
						"--batch-size", strconv.Itoa(batch), "--service", "comfyui", "--body", "Requested to load SDXLClipModel",
						"--telemetry-attributes", `test.run="`+run+`"`)
					if err != nil {
						t.Logf("telemetrygen: %v\n%s", err, out)
					}
					sent := workers * per * seconds
					delivered := waitDelivered(ctx, st, sent, 60*time.Second, func(r *harness.Record) bool {
						v, _ := r.Lookup("test.run")
						return v == run
					})
					after := st.sidecar.Usage()
					cpu := (after.CPU - before.CPU).Seconds()
					ratio := "1.0"
					if cfg.path == base {
						baseCPU = cpu
					} else if baseCPU > 0 {
						ratio = fmt.Sprintf("%.1f", cpu/baseCPU)
					}
					ok := "yes"
					if after.PeakRSSMiB() >= 100 {
						ok = "no"
					}
					tb.Add(cfg.name, rate, batch, sent, delivered, fmt.Sprintf("%.2f", cpu), fmt.Sprintf("%.0f%%", cpu/float64(seconds)*100), ratio, fmt.Sprintf("%.1f", after.PeakRSSMiB()), ok)
				})
			}
		}
	}
	out := fmt.Sprintf("\nCollector overhead, %d s of telemetrygen load per run, CPU from the first record to the last delivered:\n%s", seconds, tb.Markdown())
	fmt.Print(out)
	writeBenchOut(t, "overhead", out)
}

// waitDelivered waits until the stand-in holds want records that match (or
// timeout) and returns how many it holds: the benchmarks count CPU up to the
// last record delivered.
func waitDelivered(ctx context.Context, st *stack, want int, timeout time.Duration, match func(*harness.Record) bool) int {
	delivered := 0
	_ = harness.Eventually(ctx, timeout, 250*time.Millisecond, func() error {
		recs, err := st.dash0.Records()
		if err != nil {
			return err
		}
		delivered = 0
		for i := range recs {
			if match(&recs[i]) {
				delivered++
			}
		}
		if delivered < want {
			return fmt.Errorf("%d/%d", delivered, want)
		}
		return nil
	})
	return delivered
}

// benchShapeWanted: BENCH_SHAPES="10000/100 1000/512" runs only those
// rate/records-per-request shapes (profiling one shape); unset runs all.
func benchShapeWanted(rate, batch int) bool {
	want := os.Getenv("BENCH_SHAPES")
	if want == "" {
		return true
	}
	for _, s := range strings.Fields(want) {
		if s == fmt.Sprintf("%d/%d", rate, batch) {
			return true
		}
	}
	return false
}

// profileCPU fetches a CPU profile of the sidecar's next `seconds` seconds
// from its pprof extension into $BENCH_PPROF_DIR/name (when set). The
// returned func waits for the profile to be written.
func profileCPU(ctx context.Context, t *testing.T, port, seconds int, name string) func() {
	dir := os.Getenv("BENCH_PPROF_DIR")
	if dir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", port, seconds)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Log(err)
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Log(err)
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			t.Log(err)
		}
	}()
	return func() { <-done }
}

// writeBenchOut also writes a table to $BENCH_OUT_DIR when set.
func writeBenchOut(t *testing.T, name, out string) {
	if d := os.Getenv("BENCH_OUT_DIR"); d != "" {
		if err := os.WriteFile(filepath.Join(d, "pipeline-"+name+".md"), []byte(out), 0o644); err != nil {
			t.Log(err)
		}
	}
}
