package redisrouterexporter

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

// Throughput benchmarks. scripts/bench-exporter.sh runs them against the
// redis-server it starts (REDISROUTER_BENCH_ADDR) next to redis-benchmark on
// the same server; without the variable they start their own server.
//
// Each op pushes one batch of benchBatch records; records/s is reported.

const benchBatch = 500

func benchAddr(b *testing.B) string {
	if a := os.Getenv("REDISROUTER_BENCH_ADDR"); a != "" {
		return a
	}
	return redistest.Start(b).Addr()
}

// benchLogs is a batch spread over 50 jobs on one machine, with realistic
// bodies: a short traceback for failures, a tqdm line for progress.
func benchLogs(class string) plog.Logs {
	recs := make([]rec, benchBatch)
	for i := range recs {
		job := fmt.Sprintf("bench-job-%d", i%50)
		if class == "failure" {
			r := failure("bench-machine", job, traceback)
			r.attrs["exception.type"] = "torch.OutOfMemoryError"
			r.attrs["exception.message"] = "CUDA out of memory. Tried to allocate 2.00 GiB"
			r.attrs["comfy.instance"] = "gpu0"
			recs[i] = r
		} else {
			r := progress("bench-machine", job, float64(i%20), 20)
			r.body = " 45%|████▌     | 9/20 [00:02<00:02,  4.01it/s]"
			r.attrs["comfy.progress.rate"] = 4.01
			r.attrs["comfy.progress.rate_unit"] = "it/s"
			r.attrs["comfy.instance"] = "gpu0"
			recs[i] = r
		}
	}
	return makeLogs(recs...)
}

func benchExporter(b *testing.B, addr string) *redisExporter {
	cfg := testConfig(nil)
	cfg.Endpoint = addr
	cfg.Progress.MaxAge = 0 // the same batch is re-sent for seconds
	set := exporterSettingsForBench()
	e, err := newRedisExporter(cfg, set)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.start(context.Background(), nil); err != nil { // no host: no status reports
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.shutdown(context.Background()) })
	return e
}

func reportRecords(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// processCPU is the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExporter: the exporter's push (plan + one pipelined round trip
// per batch), with 1 and 4 concurrent pushers (exporterhelper's queue runs
// num_consumers pushes in parallel).
func BenchmarkExporter(b *testing.B) {
	addr := benchAddr(b)
	for _, class := range []string{"failure", "progress"} {
		ld := benchLogs(class)
		for _, par := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/consumers=%d", class, par), func(b *testing.B) {
				e := benchExporter(b, addr)
				b.ResetTimer()
				cpu0 := processCPU()
				// par goroutines share b.N batches, like exporterhelper's
				// queue consumers.
				var next atomic.Int64
				var wg sync.WaitGroup
				for w := 0; w < par; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if err := e.pushLogs(context.Background(), ld); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				reportRecords(b, b.N*benchBatch)
				// The exporter's own cost, kernel time of its socket writes
				// included: steadier than records/s when other processes
				// share the machine, since it does not count waiting.
				b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*benchBatch), "cpu-ns/record")
			})
		}
	}
}

// BenchmarkSingleRecord is the steady production shape: file_log polls
// every 25 ms and hands over one line at a time, so each push carries one
// record. ns/op is the latency of one push (one round trip); cpu-ns/record
// is what the exporter costs per record at that shape.
func BenchmarkSingleRecord(b *testing.B) {
	addr := benchAddr(b)
	for _, class := range []string{"failure", "progress"} {
		b.Run(class, func(b *testing.B) {
			full := benchLogs(class)
			ld := plog.NewLogs()
			full.ResourceLogs().At(0).CopyTo(ld.ResourceLogs().AppendEmpty())
			e := benchExporter(b, addr)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				if err := e.pushLogs(context.Background(), ld); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/record")
		})
	}
}

// BenchmarkPerRecord is the seed's way: one XADD / PUBLISH call (one round
// trip) per record, with the same payloads the exporter builds.
func BenchmarkPerRecord(b *testing.B) {
	addr := benchAddr(b)
	c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	b.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	f := payload.Failure{EventID: "0123456789abcdef0123456789abcdef", Timestamp: payload.FormatTimestamp(time.Now()),
		MachineID: "bench-machine", JobID: "bench-job-1", Message: traceback, Kind: "exception",
		ExceptionType: "torch.OutOfMemoryError", ExceptionMessage: "CUDA out of memory", Instance: "gpu0"}
	fields := f.Fields()
	cur, total := 9.0, 20.0
	p, _ := payload.EncodeProgress(&payload.Progress{Timestamp: f.Timestamp, MachineID: "bench-machine",
		Message: " 45%|████▌     | 9/20", Progress: payload.ProgressDetail{Current: &cur, Total: &total, Message: "sampling"}})
	b.Run("failure", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "job:events:bench-job-1", MaxLen: 1000, Approx: true, Values: fields}).Err(); err != nil {
				b.Fatal(err)
			}
		}
		reportRecords(b, b.N)
	})
	b.Run("progress", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := c.Publish(ctx, "machine:bench-machine:progress", p).Err(); err != nil {
				b.Fatal(err)
			}
		}
		reportRecords(b, b.N)
	})
}

// BenchmarkPlan is the exporter's own work on a batch without Redis:
// reading the records' attributes, building keys and the JSON payloads /
// stream fields. What is left of BenchmarkExporter's CPU per record is
// go-redis and the kernel's socket writes.
func BenchmarkPlan(b *testing.B) {
	for _, class := range []string{"failure", "progress"} {
		b.Run(class, func(b *testing.B) {
			cfg := testConfig(nil)
			cfg.Progress.MaxAge = 0
			e, err := newRedisExporter(cfg, exporterSettingsForBench())
			if err != nil {
				b.Fatal(err)
			}
			ld := benchLogs(class)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				buf := getBatchBuffers()
				e.plan(context.Background(), ld, time.Now(), buf)
				putBatchBuffers(buf)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/record")
		})
	}
}

// BenchmarkIncidents is the failures tier's planning at a batch of 1000
// failure records shaped as ComfyUI writes them (200 out-of-memory
// incidents of 5 records: banner, traceback, two detail lines, ComfyUI's
// reaction; 4 instances, 50 jobs), with failures.incident on and off, and
// the grouping alone (incident.Grouper.Group). ns/record is per failure
// record; the difference between on and off is what grouping costs.
func BenchmarkIncidents(b *testing.B) {
	const incidents = 200
	base := time.Now()
	var lines []line
	for i := range incidents {
		lines = append(lines, oomIncident(fmt.Sprintf("gpu%d", i%4), fmt.Sprintf("bench-job-%d", i%50), time.Duration(i)*10*time.Millisecond)...)
	}
	ld := incidentLogs("bench-machine", base, false, lines...)
	n := ld.LogRecordCount()
	for _, on := range []bool{true, false} {
		b.Run(fmt.Sprintf("plan/incident=%v", on), func(b *testing.B) {
			cfg := comfyConfig(nil)
			cfg.Failures.Incident.Enabled = on
			e, err := newRedisExporter(cfg, exporterSettingsForBench())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				buf := getBatchBuffers()
				e.plan(context.Background(), ld, time.Now(), buf)
				putBatchBuffers(buf)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
	b.Run("group", func(b *testing.B) {
		g := newGrouper(comfyConfig(nil))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if got := len(g.Group(ld)); got != incidents {
				b.Fatalf("%d incidents, want %d", got, incidents)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	})
}
