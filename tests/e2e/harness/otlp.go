package harness

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
)

// IDAttr is the attribute carrying each test record's unique id, so the tests
// count delivered, lost and duplicated records exactly.
const IDAttr = "test.record_id"

// Job identifies one ComfyUI job the way ComfyUI's OTel SDK setup does:
// job.id on the resource, emerge.* on each record.
type Job struct {
	MachineID  string
	JobID      string
	WorkflowID string
	// Instance is the ComfyUI instance (gpu0...), sent as service.instance.id.
	Instance string
}

// ClientOptions configure an OTLP client.
type ClientOptions struct {
	// Endpoint is host:port of the sidecar's OTLP gRPC receiver.
	Endpoint string
	// Batch uses the SDK's BatchProcessor (as ComfyUI does) with this export
	// interval; 0 exports each record synchronously in Emit (SimpleProcessor),
	// so a test knows a record was accepted when Emit returns.
	Batch time.Duration
	// NoRetry disables the exporter's retry, to observe refusals.
	NoRetry bool
	// Resource adds resource attributes (the platform's ComfyUI sends
	// service.namespace, machine.id, service.instance.id, worker.id).
	Resource map[string]string
}

// Client is one ComfyUI job's OTLP logs client: the OpenTelemetry Go logs SDK
// over OTLP gRPC. It records which ids the collector accepted.
type Client struct {
	Job      Job
	provider *sdklog.LoggerProvider
	logger   otellog.Logger
	tracker  *trackingExporter
}

// NewClient builds a client for job. It is shut down when the test ends.
func NewClient(tb testing.TB, job Job, o ClientOptions) *Client {
	tb.Helper()
	ctx := context.Background()
	opts := []otlploggrpc.Option{otlploggrpc.WithEndpoint(o.Endpoint), otlploggrpc.WithInsecure(), otlploggrpc.WithTimeout(10 * time.Second)}
	if o.NoRetry {
		opts = append(opts, otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}))
	} else {
		opts = append(opts, otlploggrpc.WithRetry(otlploggrpc.RetryConfig{
			Enabled: true, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 2 * time.Minute,
		}))
	}
	exp, err := otlploggrpc.New(ctx, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tracker := &trackingExporter{Exporter: exp, accepted: map[string]int{}, refused: map[string]int{}, sentAt: map[string]time.Time{}}
	attrs := []attribute.KeyValue{attribute.String("service.name", "comfyui")}
	if job.MachineID != "" {
		attrs = append(attrs, attribute.String("machine.id", job.MachineID))
	}
	if job.JobID != "" {
		attrs = append(attrs, attribute.String("job.id", job.JobID))
	}
	if job.Instance != "" {
		attrs = append(attrs, attribute.String("service.instance.id", job.Instance))
	}
	for k, v := range o.Resource {
		attrs = append(attrs, attribute.String(k, v))
	}
	res := resource.NewSchemaless(attrs...)
	var proc sdklog.Processor
	if o.Batch > 0 {
		proc = sdklog.NewBatchProcessor(tracker, sdklog.WithExportInterval(o.Batch), sdklog.WithMaxQueueSize(1<<16))
	} else {
		proc = sdklog.NewSimpleProcessor(tracker)
	}
	provider := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(proc))
	c := &Client{Job: job, provider: provider, logger: provider.Logger("comfyui"), tracker: tracker}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = provider.Shutdown(ctx)
	})
	return c
}

// Rec is one record to send.
type Rec struct {
	ID       string // unique id, sent as IDAttr
	Body     string
	Severity otellog.Severity
	// Attrs are extra record attributes (emerge.job_id and
	// emerge.workflow_id are added from the Job).
	Attrs map[string]string
	// Time is the event time; zero = now.
	Time time.Time
}

// Emit sends r. With the SimpleProcessor it returns after the export; the
// outcome is in Accepted/Refused either way.
func (c *Client) Emit(ctx context.Context, r Rec) {
	var rec otellog.Record
	now := time.Now()
	if r.Time.IsZero() {
		r.Time = now
	}
	rec.SetTimestamp(r.Time)
	rec.SetObservedTimestamp(now)
	sev := r.Severity
	if sev == 0 {
		sev = otellog.SeverityInfo
	}
	rec.SetSeverity(sev)
	rec.SetSeverityText(sevText(sev))
	rec.SetBody(attribute.StringValue(r.Body))
	kvs := make([]attribute.KeyValue, 0, len(r.Attrs)+3)
	if r.ID != "" {
		kvs = append(kvs, attribute.String(IDAttr, r.ID))
	}
	if c.Job.JobID != "" {
		kvs = append(kvs, attribute.String("emerge.job_id", c.Job.JobID))
	}
	if c.Job.WorkflowID != "" {
		kvs = append(kvs, attribute.String("emerge.workflow_id", c.Job.WorkflowID))
	}
	for k, v := range r.Attrs {
		kvs = append(kvs, attribute.String(k, v))
	}
	rec.AddAttributes(kvs...)
	c.logger.Emit(ctx, rec)
}

// Flush exports everything buffered.
func (c *Client) Flush(ctx context.Context) error { return c.provider.ForceFlush(ctx) }

// Accepted returns how often each id was accepted by the collector (an id
// sent once and retried after an ambiguous failure can count twice).
func (c *Client) Accepted() map[string]int { return c.tracker.snapshot(true) }

// Refused returns ids whose export finally failed (after retries).
func (c *Client) Refused() map[string]int { return c.tracker.snapshot(false) }

// ExportLatency is the duration of each successful OTLP export call.
func (c *Client) ExportLatency() *Latencies { return &c.tracker.Latency }

// SentAt returns when the export carrying id started.
func (c *Client) SentAt(id string) (time.Time, bool) {
	c.tracker.mu.Lock()
	defer c.tracker.mu.Unlock()
	t, ok := c.tracker.sentAt[id]
	return t, ok
}

// Errors returns the export errors seen.
func (c *Client) Errors() []error {
	c.tracker.mu.Lock()
	defer c.tracker.mu.Unlock()
	return append([]error(nil), c.tracker.errs...)
}

func sevText(s otellog.Severity) string {
	switch {
	case s >= otellog.SeverityFatal:
		return "FATAL"
	case s >= otellog.SeverityError:
		return "ERROR"
	case s >= otellog.SeverityWarn:
		return "WARNING"
	case s >= otellog.SeverityInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

// trackingExporter wraps the OTLP exporter and records, per id, whether the
// collector accepted the export that carried it.
type trackingExporter struct {
	sdklog.Exporter
	mu       sync.Mutex
	accepted map[string]int
	refused  map[string]int
	errs     []error
	// sentAt is when the export carrying each id started (first attempt
	// of the last Export call).
	sentAt map[string]time.Time
	// Latency of each successful Export call: how long the application
	// waits for the sidecar to accept a batch.
	Latency Latencies
}

func (e *trackingExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	start := time.Now()
	err := e.Exporter.Export(ctx, recs)
	took := time.Since(start)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		e.Latency.Add(took)
	}
	for i := range recs {
		recs[i].WalkAttributes(func(kv attribute.KeyValue) bool {
			if kv.Key == IDAttr {
				e.sentAt[kv.Value.AsString()] = start
				return false
			}
			return true
		})
	}
	m := e.accepted
	if err != nil {
		m = e.refused
		e.errs = append(e.errs, err)
	}
	for i := range recs {
		recs[i].WalkAttributes(func(kv attribute.KeyValue) bool {
			if kv.Key == IDAttr {
				m[kv.Value.AsString()]++
				return false
			}
			return true
		})
	}
	return err
}

func (e *trackingExporter) snapshot(accepted bool) map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	src := e.refused
	if accepted {
		src = e.accepted
	}
	out := make(map[string]int, len(src))
	for k, v := range src {
		out[k] = v
	}
	return out
}
