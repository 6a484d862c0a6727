package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// TestBenchBackendDrain: the CPU the sidecar spends sending tier 1's backlog
// after a backend outage, in the shape tailing produces: one record per
// request (every tailed line is its own request), 50,000 of them queued on
// disk. Run once per batch min_size of the backend queue (the production
// value first, configs/backend/*.yaml): while the backlog drains, each of
// the queue's 4 consumers holds a batch of at least min_size bytes of
// protobuf, several times that as pdata, plus its gzip copy, so min_size
// sets the sidecar's peak memory after an outage. (exporterhelper v0.159.0
// also re-sizes the whole pending batch after every request it merges,
// partition_batcher.go; at these sizes that costs little CPU.)
func TestBenchBackendDrain(t *testing.T) {
	benchEnabled(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	const n = 50000
	tb := harness.Table{Header: []string{"backend batch min_size", "queued records (1 per request)", "delivered", "drain s", "CPU s (drain)", "µs CPU per record", "peak RSS MiB before", "peak RSS MiB after"}}
	for _, minSize := range []int{262144, 1048576} {
		t.Run(strconv.Itoa(minSize), func(t *testing.T) {
			overlay := filepath.Join(t.TempDir(), "min-size.yaml")
			if err := os.WriteFile(overlay, []byte(fmt.Sprintf("exporters:\n  otlp_grpc/dash0:\n    sending_queue:\n      batch:\n        min_size: %d\n", minSize)), 0o644); err != nil {
				t.Fatal(err)
			}
			st := newStack(t, stackOptions{machineID: "bench-drain", instances: []string{"gpu0", "gpu1"}, overlays: []string{overlay}})
			st.sidecar.StartHealthy(startTimeout)
			st.dash0.Down()
			lf, err := harness.OpenLogFile(st.sidecar.LogPath("gpu0", "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer lf.Close()
			uid := "drain" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
			var b strings.Builder
			for i := 0; i < n; i++ {
				// An "other" line (no Redis tier): only tier 1 works.
				fmt.Fprintf(&b, "%s-%06d Using pytorch attention in VAE\n", uid, i)
			}
			if _, err := lf.Write([]byte(b.String())); err != nil {
				t.Fatal(err)
			}
			// Everything read and queued on disk while the backend is down.
			if err := harness.Eventually(ctx, 2*time.Minute, 500*time.Millisecond, func() error {
				v, err := st.sidecar.Metric("otelcol_exporter_enqueue_failed_log_records")
				if err != nil {
					return err
				}
				if v > 0 {
					return fmt.Errorf("%v records refused by the backend queue", v)
				}
				if v, err = st.sidecar.Metric("otelcol_receiver_accepted_log_records", `receiver="file_log"`); err != nil {
					return err
				}
				if v < n {
					return fmt.Errorf("file_log accepted %v of %d", v, n)
				}
				return nil
			}); err != nil {
				// Measuring a drain of less than the backlog would flatter it.
				t.Fatalf("backlog not queued before the backend came back: %v", err)
			}
			before := st.sidecar.Usage()
			start := time.Now()
			st.dash0.Start()
			delivered := waitDelivered(ctx, st, n, 5*time.Minute, func(r *harness.Record) bool {
				return strings.HasPrefix(r.Body, uid+"-")
			})
			drain := time.Since(start)
			after := st.sidecar.Usage()
			cpu := (after.CPU - before.CPU).Seconds()
			tb.Add(minSize, n, delivered, fmt.Sprintf("%.1f", drain.Seconds()), fmt.Sprintf("%.2f", cpu), fmt.Sprintf("%.0f", cpu/float64(n)*1e6), fmt.Sprintf("%.1f", before.PeakRSSMiB()), fmt.Sprintf("%.1f", after.PeakRSSMiB()))
			if delivered < n {
				t.Errorf("%d of %d delivered after the outage", delivered, n)
			}
		})
	}
	out := "\nTier 1 backlog after a backend outage (tailed lines, one record per request), by the backend queue's batch min_size:\n" + tb.Markdown()
	fmt.Print(out)
	writeBenchOut(t, "drain", out)
}
