package comfypatternprocessor

// Benchmark: comfypattern vs the stock transform processor running the seed
// rule set with OTTL IsMatch, on the real session logs split one record per
// line (as file_log does), in one run. `make bench` runs TestBenchTable via
// scripts/bench-classifier.sh (COMFY_BENCH=1) and prints the table;
// `go test -bench . -benchmem` gives the raw Go benchmarks.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
)

// The seed rule set from issue 2: the baseline to beat.
var (
	seedProgress = []string{`Processing.*?(\d+)/(\d+)`, `Loading.*?model`, `Step\s+\d+`, `(\d+)%`, `FETCH.*?(\d+)/(\d+)`, `Downloading.*?model`, `Generating.*?(\d+)/(\d+)`}
	seedFailure  = []string{`(?i)error[:\s]`, `(?i)exception`, `(?i)traceback`, `(?i)cuda\s+error`, `(?i)out\s+of\s+memory`, `(?i)fatal`, `(?i)failed\s+to`, `(?i)cannot\s+`, `(?i)unable\s+to`}
)

// seedStatements: other by default, progress rules, then failure rules (a
// later set wins, so failure beats progress, like the classifier).
func seedStatements() []any {
	quote := func(re string) string {
		return `"` + strings.ReplaceAll(strings.ReplaceAll(re, `\`, `\\`), `"`, `\"`) + `"`
	}
	st := []any{`set(attributes["class"], "other")`}
	for _, re := range seedProgress {
		st = append(st, fmt.Sprintf(`set(attributes["class"], "progress") where IsMatch(body, %s)`, quote(re)))
	}
	for _, re := range seedFailure {
		st = append(st, fmt.Sprintf(`set(attributes["class"], "failure") where IsMatch(body, %s)`, quote(re)))
	}
	return st
}

func newTransformSeed(tb testing.TB, next consumer.Logs) processor.Logs {
	tb.Helper()
	f := transformprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	cm := confmap.NewFromStringMap(map[string]any{
		"error_mode":     "ignore",
		"log_statements": []any{map[string]any{"context": "log", "statements": seedStatements()}},
	})
	if err := cm.Unmarshal(cfg); err != nil {
		tb.Fatal(err)
	}
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Start(context.Background(), nopHost{}); err != nil {
		tb.Fatal(err)
	}
	return p
}

func newComfypattern(tb testing.TB, next consumer.Logs) processor.Logs {
	tb.Helper()
	f := NewFactory()
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), next)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Start(context.Background(), nopHost{}); err != nil {
		tb.Fatal(err)
	}
	return p
}

type nopHost struct{}

func (nopHost) GetExtensions() map[component.ID]component.Component { return nil }

// BenchmarkClassifierOther: records the catalogue calls other must not
// allocate (most records are other).
func BenchmarkClassifierOther(b *testing.B) {
	c, err := classifier.New(classifier.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	texts := []string{"[2024-06-17 13:15] Starting server", "Total VRAM 24564 MB, total RAM 64221 MB", "** ComfyUI start up time: 2023-08-07 18:20:56.720218"}
	var res classifier.Result
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.ClassifyInto(texts[i%len(texts)], &res)
	}
}

func benchCorpusDir() string {
	if d := os.Getenv("CORPUS_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "corpus")
}

// sessionBatches reads the session logs, one record per line (CRLF ends
// trimmed like file_log does), in batches of batchSize.
func sessionBatches(tb testing.TB, batchSize int) ([]plog.Logs, int) {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(benchCorpusDir(), "sessions", "*.log"))
	if len(files) == 0 {
		tb.Skip("no session logs; set CORPUS_DIR")
	}
	sort.Strings(files)
	var batches []plog.Logs
	var cur plog.LogRecordSlice
	n := 0
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimRight(line, "\r")
			if line == "" {
				continue
			}
			if n%batchSize == 0 {
				ld := plog.NewLogs()
				rl := ld.ResourceLogs().AppendEmpty()
				rl.Resource().Attributes().PutStr("service.name", "comfyui")
				cur = rl.ScopeLogs().AppendEmpty().LogRecords()
				batches = append(batches, ld)
			}
			lr := cur.AppendEmpty()
			lr.Body().SetStr(line)
			lr.Attributes().PutStr("log.file.name", filepath.Base(p))
			n++
		}
	}
	return batches, n
}

// runPerRecord measures a processor over all session records; ns/record is
// reported as a custom metric, wall clock and CPU time. The input is copied
// (the processors mutate it) a round of batches at a time, then the garbage
// of the copies is collected, both outside the measurement: each processor
// pays for the garbage it makes, not for the harness's.
func runPerRecord(b *testing.B, mk func(testing.TB, consumer.Logs) processor.Logs) {
	batches, total := sessionBatches(b, 1000)
	p := mk(b, consumertest.NewNop())
	defer func() { _ = p.Shutdown(context.Background()) }()
	records := 0
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		b.StopTimer()
		work := make([]plog.Logs, min(len(batches), b.N-i))
		for j := range work {
			work[j] = plog.NewLogs()
			batches[(i+j)%len(batches)].CopyTo(work[j])
		}
		runtime.GC()
		b.StartTimer()
		for _, ld := range work {
			c0 := processCPU()
			if err := p.ConsumeLogs(context.Background(), ld); err != nil {
				b.Fatal(err)
			}
			cpu += processCPU() - c0
			records += ld.LogRecordCount()
		}
		i += len(work)
	}
	b.StopTimer()
	_ = total
	if records > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(records), "cpu-ns/record")
	}
}

// processCPU is the CPU time (user+system, all threads: GC included) the
// process has used. On a shared machine the wall clock also counts time
// spent waiting for a core, which swings with the other jobs' load; CPU
// time is the cost the ratio is about.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkComfypattern(b *testing.B) { runPerRecord(b, newComfypattern) }

// BenchmarkClassifierOnly: the classifier alone, without pdata attributes.
func BenchmarkClassifierOnly(b *testing.B) { runClassifierOnly(b) }

func runClassifierOnly(b *testing.B) {
	batches, _ := sessionBatches(b, 1000)
	var texts []string
	for _, ld := range batches {
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := 0; i < lrs.Len(); i++ {
			texts = append(texts, lrs.At(i).Body().Str())
		}
	}
	c, err := classifier.New(classifier.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	c0 := processCPU()
	for i := 0; i < b.N; i++ {
		_ = c.Classify(texts[i%len(texts)])
	}
	cpu := processCPU() - c0
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
}
func BenchmarkTransformSeed(b *testing.B) { runPerRecord(b, newTransformSeed) }

// classifyWith runs the labelled corpus through a processor and returns the
// class attribute it set on each record.
func classifyWith(tb testing.TB, mk func(testing.TB, consumer.Logs) processor.Logs, texts []string, attr string) []string {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, t := range texts {
		lrs.AppendEmpty().Body().SetStr(t)
	}
	sink := new(consumertest.LogsSink)
	p := mk(tb, sink)
	if err := p.ConsumeLogs(context.Background(), ld); err != nil {
		tb.Fatal(err)
	}
	_ = p.Shutdown(context.Background())
	out := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	classes := make([]string, out.Len())
	for i := range classes {
		v, _ := out.At(i).Attributes().Get(attr)
		classes[i] = v.Str()
	}
	return classes
}

// TestBenchTable prints the comparison table (COMFY_BENCH=1; used by make bench).
func TestBenchTable(t *testing.T) {
	if os.Getenv("COMFY_BENCH") == "" {
		t.Skip("set COMFY_BENCH=1 (make bench) to run the benchmark table")
	}
	_, total := sessionBatches(t, 1000)
	// The machine is shared: interleave the runs and keep each one's median,
	// so a burst of load elsewhere does not decide the ratio.
	const rounds = 5
	var oursRuns, seedRuns, coreRuns []testing.BenchmarkResult
	for i := 0; i < rounds; i++ {
		oursRuns = append(oursRuns, testing.Benchmark(func(b *testing.B) { runPerRecord(b, newComfypattern) }))
		seedRuns = append(seedRuns, testing.Benchmark(func(b *testing.B) { runPerRecord(b, newTransformSeed) }))
		coreRuns = append(coreRuns, testing.Benchmark(runClassifierOnly))
	}
	perRec := func(r testing.BenchmarkResult) float64 { return r.Extra["cpu-ns/record"] }
	wall := func(r testing.BenchmarkResult) float64 { return r.Extra["ns/record"] }
	median := func(rs []testing.BenchmarkResult) testing.BenchmarkResult {
		sort.Slice(rs, func(i, j int) bool { return perRec(rs[i]) < perRec(rs[j]) })
		return rs[len(rs)/2]
	}
	ours, seed, core := median(oursRuns), median(seedRuns), median(coreRuns)
	allocs := func(r testing.BenchmarkResult) float64 {
		return float64(r.MemAllocs) / float64(r.N) / 1000 // batches of 1000
	}

	recs, err := readLabelled()
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, len(recs))
	for i, r := range recs {
		texts[i] = r.Text
	}
	score := func(classes []string) (agree, missed int) {
		for i, r := range recs {
			if classes[i] == r.Label {
				agree++
			} else if r.Label == "failure" && classes[i] != "failure" {
				missed++
			}
		}
		return
	}
	oa, om := score(classifyWith(t, newComfypattern, texts, AttrClass))
	sa, sm := score(classifyWith(t, newTransformSeed, texts, "class"))

	w := os.Stdout
	fmt.Fprintf(w, "\nclassifier benchmark: %d session records (one per line, %s/sessions/*.log), batches of 1000, median of %d interleaved runs\n\n", total, benchCorpusDir(), rounds)
	fmt.Fprintf(w, "%-34s %13s %13s %14s %18s %16s\n", "processor", "CPU ns/record", "wall ns/rec", "allocs/record", "corpus agreement", "missed failures")
	fmt.Fprintf(w, "%-34s %13.0f %13.0f %14.1f %11d/%d %4.1f%% %16d\n", "comfypattern (built-in rules)", perRec(ours), wall(ours), allocs(ours), oa, len(recs), 100*float64(oa)/float64(len(recs)), om)
	fmt.Fprintf(w, "%-34s %13.0f %13.0f %14.1f %11d/%d %4.1f%% %16d\n", "transform (seed rules, OTTL IsMatch)", perRec(seed), wall(seed), allocs(seed), sa, len(recs), 100*float64(sa)/float64(len(recs)), sm)
	fmt.Fprintf(w, "%-34s %13.0f %13.0f %14.1f   (same code as comfypattern, without writing attributes)\n", "  classifier package alone", perRec(core), wall(core), float64(core.MemAllocs)/float64(core.N))
	ratio := perRec(seed) / perRec(ours)
	fmt.Fprintf(w, "\ncomfypattern is %.1fx cheaper per record than transform with the seed rules in CPU time (requirement: >= 15x; wall clock: %.1fx)\n", ratio, wall(seed)/wall(ours))
	if ratio < 15 {
		fmt.Fprintf(w, "WARNING: below the 15x requirement on this run\n")
	}
	if a := float64(core.MemAllocs) / float64(core.N); a > 0.5 {
		fmt.Fprintf(w, "WARNING: the classifier allocates %.2f times per record\n", a)
	}
}

type labelled struct {
	Text  string `json:"text"`
	Label string `json:"label"`
}

func readLabelled() ([]labelled, error) {
	b, err := os.ReadFile(filepath.Join(benchCorpusDir(), "comfyui_lines.jsonl"))
	if err != nil {
		return nil, err
	}
	var out []labelled
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r labelled
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
