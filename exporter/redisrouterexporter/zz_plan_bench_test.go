package redisrouterexporter

import (
	"testing"
	"time"
)

func BenchmarkPlan(b *testing.B) {
	for _, class := range []string{"progress", "failure"} {
		b.Run(class, func(b *testing.B) {
			cfg := testConfig(nil)
			cfg.Progress.MaxAge = 0
			e, _ := newRedisExporter(cfg, exporterSettingsForBench())
			ld := benchLogs(class)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				buf := getBatchBuffers()
				e.plan(ld, time.Now(), buf)
				putBatchBuffers(buf)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/record")
		})
	}
}
