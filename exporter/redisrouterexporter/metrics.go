package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/internal/metadata"
)

// Drop reasons: the `reason` attribute of the dropped metric.
const (
	reasonStale             = "stale"
	reasonThrottled         = "throttled"
	reasonNotRouted         = "not_routed"
	reasonQueueFull         = "queue_full"
	reasonUndeliverable     = "undeliverable"
	reasonRefused           = "refused"
	reasonDeadLetterRefused = "dead_letter_refused"
)

// metrics wraps the mdatagen instruments so that every measurement carries
// `exporter` = the component ID (redisrouter/progress, redisrouter/failures):
// dashboards and alerts tell the tiers apart.
type metrics struct {
	tel      *metadata.TelemetryBuilder
	exporter attribute.KeyValue
	plain    metric.MeasurementOption // just the exporter attribute, built once
}

func newMetrics(tel *metadata.TelemetryBuilder, id string) *metrics {
	kv := attribute.String("exporter", id)
	return &metrics{tel: tel, exporter: kv, plain: metric.WithAttributeSet(attribute.NewSet(kv))}
}

func (m *metrics) with(k, v string) metric.MeasurementOption {
	return metric.WithAttributes(m.exporter, attribute.String(k, v))
}

func (m *metrics) published(ctx context.Context, n int64) {
	if n > 0 {
		m.tel.ExporterRedisrouterPublished.Add(ctx, n, m.plain)
	}
}

func (m *metrics) streamed(ctx context.Context, n int64) {
	if n > 0 {
		m.tel.ExporterRedisrouterStreamed.Add(ctx, n, m.plain)
	}
}

func (m *metrics) fallback(ctx context.Context, n int64) {
	if n > 0 {
		m.tel.ExporterRedisrouterFallback.Add(ctx, n, m.plain)
	}
}

func (m *metrics) failed(ctx context.Context, n int64) {
	if n > 0 {
		m.tel.ExporterRedisrouterFailed.Add(ctx, n, m.plain)
	}
}

func (m *metrics) dropped(ctx context.Context, reason string, n int64) {
	if n > 0 {
		m.tel.ExporterRedisrouterDropped.Add(ctx, n, m.with("reason", reason))
	}
}

func (m *metrics) deadLettered(ctx context.Context, reason string, n int64) {
	if n > 0 {
		m.tel.ExporterRedisrouterDeadLettered.Add(ctx, n, m.with("reason", reason))
	}
}

func (m *metrics) redisError(ctx context.Context, kind errKind, n int64) {
	if n > 0 {
		m.tel.ExporterRedisrouterRedisErrors.Add(ctx, n, m.with("kind", kindNames[kind]))
	}
}

func (m *metrics) redisUp(ctx context.Context, up int64) {
	m.tel.ExporterRedisrouterRedisUp.Record(ctx, up, m.plain)
}

func (m *metrics) batchDuration(ctx context.Context, d time.Duration) {
	m.tel.ExporterRedisrouterBatchDuration.Record(ctx, d.Seconds(), m.plain)
}
