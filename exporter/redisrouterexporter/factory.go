package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/internal/metadata"
)

// NewFactory creates the factory of the redisrouter exporter (logs only).
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithLogs(createLogsExporter, metadata.LogsStability),
	)
}

func createLogsExporter(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newRedisExporter(c, set)
	if err != nil {
		return nil, err
	}
	helper, err := exporterhelper.NewLogs(ctx, set, cfg,
		e.pushLogs,
		// The exporter only reads the data; pdata is not mutated.
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		exporterhelper.WithQueue(c.QueueConfig),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
	)
	if err != nil {
		return nil, err
	}
	return &bestEffortProgress{Logs: helper, met: e.met}, nil
}

// bestEffortProgress keeps progress from ever refusing upstream. A refusal
// would travel back through the routing connector to the receiver and
// refuse the record for every tier (the backend's copy included). So when
// exporterhelper refuses a request that holds no failure record (its queue
// is full: exporterhelper.ErrQueueIsFull; or, without a queue, the retries
// ran out), the records are dropped and counted instead. A request with a
// failure in it is still refused: failures must not vanish, and the
// receiver counts the refusal.
type bestEffortProgress struct {
	exporter.Logs
	met *metrics
}

func (b *bestEffortProgress) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	err := b.Logs.ConsumeLogs(ctx, ld)
	if err == nil || holdsFailure(ld) {
		return err
	}
	reason := reasonUndeliverable
	if errors.Is(err, exporterhelper.ErrQueueIsFull) {
		reason = reasonQueueFull
	}
	b.met.dropped(ctx, reason, int64(ld.LogRecordCount()))
	return nil
}

func holdsFailure(ld plog.Logs) bool {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if v, ok := lrs.At(k).Attributes().Get(classAttribute); ok && v.Str() == ClassFailure {
					return true
				}
			}
		}
	}
	return false
}
