package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// TestBenchPipeline is `make bench`'s pipeline part (scripts/bench-pipeline.sh):
// the built binary with configs/sidecar.yaml, a real redis-server and the
// Dash0 stand-in. It prints tables instead of asserting times: figures drift
// on shared machines, so everything compared is measured in the same run.
//
//  1. latency from a line appended to a tailed file, and from an OTLP record
//     sent, to its arrival at a Redis Pub/Sub subscriber, at 100 and 1000/s;
//  2. CPU seconds and peak RSS of the production pipeline at 1k and 10k
//     records/s next to the same binary with only otlp in and otlp_grpc out.
func TestBenchPipeline(t *testing.T) {
	if os.Getenv("BENCH_PIPELINE") == "" {
		t.Skip("set BENCH_PIPELINE=1 (scripts/bench-pipeline.sh) to run the pipeline benchmark")
	}
	dur := 5 * time.Second
	if d, err := time.ParseDuration(os.Getenv("BENCH_PIPELINE_DURATION")); err == nil {
		dur = d
	}

	lat := harness.Table{Header: []string{"source", "rate/s", "sent", "received", "p50 ms", "p99 ms", "max ms", "p99 < 50 ms"}}
	for _, rate := range []int{100, 1000} {
		for _, src := range []string{"tailed file", "OTLP gRPC"} {
			sent, got, l := measureLatency(t, src, rate, dur)
			ok := "yes"
			if l.Percentile(99) >= 50*time.Millisecond {
				ok = "NO"
			}
			lat.Add(src, rate, sent, got, harness.Ms(l.Percentile(50)), harness.Ms(l.Percentile(99)), harness.Ms(l.Max()), ok)
		}
	}
	fmt.Printf("\nLatency to a Redis Pub/Sub subscriber (configs/sidecar.yaml, %s per run)\n\n", dur)
	lat.Print(os.Stdout)

	ovh := harness.Table{Header: []string{"pipeline", "records/s", "records", "CPU s", "CPU µs/record", "peak RSS MiB", "RSS < 100 MiB at 1k/s"}}
	for _, rate := range []int{1000, 10000} {
		for _, which := range []string{"production (configs/sidecar.yaml)", "baseline (otlp -> otlp_grpc)"} {
			n, cpu, rss := measureOverhead(t, which, rate, 2*dur)
			ok := "-"
			if rate == 1000 && which[0] == 'p' {
				ok = "yes"
				if rss >= 100 {
					ok = "NO"
				}
			}
			ovh.Add(which, rate, n, fmt.Sprintf("%.2f", cpu.Seconds()), fmt.Sprintf("%.1f", float64(cpu.Microseconds())/float64(max(n, 1))), fmt.Sprintf("%.1f", rss), ok)
		}
	}
	fmt.Printf("\nOverhead: CPU and peak RSS of the collector process under OTLP load (%s per run, real session lines as bodies)\n\n", 2*dur)
	ovh.Print(os.Stdout)
}

// measureLatency sends `Processing i/total` progress lines (total unique per
// run, so each arrival is identified by its numbers, not by text) and times
// each from its write/send to its PUBLISH reaching a subscriber.
func measureLatency(t *testing.T, src string, rate int, dur time.Duration) (sent, received int, l *harness.Latencies) {
	t.Helper()
	s := newStack(t, stackOptions{machineID: "bench-latency", instances: []string{"gpu0"}})
	s.sidecar.StartHealthy(startTimeout)
	total := 100000 + rate
	n := int(float64(rate) * dur.Seconds())
	sentAt := make([]time.Time, n+1)
	ctx, cancel := context.WithTimeout(context.Background(), dur+time.Minute)
	defer cancel()

	interval := time.Second / time.Duration(rate)
	switch src {
	case "tailed file":
		f, err := harness.OpenLogFile(s.sidecar.LogPath("gpu0", "out"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		next := time.Now()
		for i := 1; i <= n; i++ {
			time.Sleep(time.Until(next))
			next = next.Add(interval)
			sentAt[i] = time.Now()
			if err := f.Line(fmt.Sprintf("Processing %d/%d", i, total)); err != nil {
				t.Fatal(err)
			}
		}
	default:
		raw, err := harness.NewRawOTLP(s.sidecar.OTLPEndpoint())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		res := map[string]string{"service.name": "comfyui", "machine.id": "bench-latency", "job.id": "bench-job"}
		next := time.Now()
		for i := 1; i <= n; i++ {
			time.Sleep(time.Until(next))
			next = next.Add(interval)
			sentAt[i] = time.Now()
			if _, err := raw.Send(ctx, 1, fmt.Sprintf("Processing %d/%d", i, total), res, ""); err != nil {
				t.Fatalf("otlp send: %v", err)
			}
		}
	}
	// Wait until arrivals stop growing (or all arrived).
	last, stable := -1, 0
	for stable < 10 && ctx.Err() == nil {
		c := s.sub.Len()
		if c >= n {
			break
		}
		if c == last {
			stable++
		} else {
			stable, last = 0, c
		}
		time.Sleep(100 * time.Millisecond)
	}
	l = &harness.Latencies{}
	seen := map[int]bool{}
	for _, m := range s.sub.Messages() {
		p := m.Progress
		if p == nil || p.Progress.Current == nil || p.Progress.Total == nil || int(*p.Progress.Total) != total {
			continue
		}
		i := int(*p.Progress.Current)
		if i < 1 || i > n || seen[i] {
			continue
		}
		seen[i] = true
		l.Add(m.Received.Sub(sentAt[i]))
	}
	return n, len(seen), l
}

const baselineConfig = `# Baseline for the overhead benchmark: OTLP in, OTLP out, nothing else.
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${env:BASE_GRPC_PORT}
exporters:
  otlp_grpc:
    endpoint: ${env:BASE_DASH0_ENDPOINT}
    tls:
      insecure: true
extensions:
  health_check:
    endpoint: 127.0.0.1:${env:BASE_HEALTH_PORT}
service:
  extensions: [health_check]
  telemetry:
    logs:
      level: warn
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlp_grpc]
`

// measureOverhead loads one collector with real session lines over OTLP at
// rate records/s (batches every 10 ms) and returns records sent, the
// collector's CPU time during the load (plus the drain that follows) and its
// peak RSS.
func measureOverhead(t *testing.T, which string, rate int, dur time.Duration) (int, time.Duration, float64) {
	t.Helper()
	lines, err := harness.ReadSession(harness.SessionPath(t, "GhostPrincess1__Aigcserver__comfyui.log"))
	if err != nil {
		t.Fatal(err)
	}
	var proc *harness.Process
	var endpoint string
	if which[0] == 'p' {
		s := newStack(t, stackOptions{machineID: "bench-overhead", instances: []string{"gpu0"}})
		s.sidecar.StartHealthy(startTimeout)
		proc, endpoint = s.sidecar.Process, s.sidecar.OTLPEndpoint()
	} else {
		dash0 := harness.StartDash0(t, harness.Dash0Options{})
		dir := t.TempDir()
		cfg := filepath.Join(dir, "baseline.yaml")
		if err := os.WriteFile(cfg, []byte(baselineConfig), 0o644); err != nil {
			t.Fatal(err)
		}
		port, health := redistest.FreePort(t), redistest.FreePort(t)
		proc = harness.NewProcess(t, harness.ProcessOptions{Name: "baseline", ConfigPath: cfg, HealthPort: health, Dir: dir,
			Env: map[string]string{"BASE_GRPC_PORT": strconv.Itoa(port), "BASE_HEALTH_PORT": strconv.Itoa(health), "BASE_DASH0_ENDPOINT": dash0.Endpoint()}})
		proc.StartHealthy(startTimeout)
		endpoint = "127.0.0.1:" + strconv.Itoa(port)
	}
	raw, err := harness.NewRawOTLP(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	res := map[string]string{"service.name": "comfyui", "machine.id": "bench-overhead", "job.id": "bench-job"}

	before := proc.Usage()
	perBatch := rate / 100
	ctx, cancel := context.WithTimeout(context.Background(), dur+time.Minute)
	defer cancel()
	sent := 0
	next := time.Now()
	end := next.Add(dur)
	for i := 0; time.Now().Before(end); i++ {
		time.Sleep(time.Until(next))
		next = next.Add(10 * time.Millisecond)
		body := string(lines[i%len(lines)])
		if _, err := raw.Send(ctx, perBatch, body, res, ""); err != nil {
			t.Fatalf("otlp send: %v", err)
		}
		sent += perBatch
	}
	time.Sleep(2 * time.Second) // let queues drain into the CPU figure
	after := proc.Usage()
	return sent, after.CPU - before.CPU, after.PeakRSSMiB()
}
