package comfyjobprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor/internal/metadatatest"
)

func TestMetrics(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	h := newHarnessWith(t, createDefaultConfig(), metadatatest.NewSettings(tel))
	h.file(1, rec{at: 1, body: "got prompt", event: "prompt_started"}, rec{at: 1.1, body: "Starting"})
	h.otlp(5,
		rec{at: 0.9, body: "got prompt", job: "unknown", event: "prompt_started"},
		rec{at: 1.2, body: loadSDXL, job: "job-a"},
	)
	h.file(6, rec{at: 6, body: loadSDXL}, rec{at: 6, body: "more"})

	ev := func(e string) attribute.Set { return attribute.NewSet(attribute.String("evidence", e)) }
	metadatatest.AssertEqualProcessorComfyjobRecordsAttributed(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: ev(EvidenceRecord)},
		{Value: 2, Attributes: ev(EvidenceOTLP)},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorComfyjobRecordsUnattributed(t, tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorComfyjobDuplicatesMarked(t, tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
}

// Through the factory: the component passes every record on, mutated.
func TestFactoryPipeline(t *testing.T) {
	sink := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), processortestSettings(), createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	ld := newOTLPLogs(map[string]string{"worker.id": "m1-worker-comfyui-1"}, "job-1", "hello")
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	require.NoError(t, p.Shutdown(context.Background()))
	require.Len(t, sink.AllLogs(), 1)
	lr := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	require.Equal(t, "gpu1", attrStr(lr, AttrInstance))
	require.Equal(t, "job-1", attrStr(lr, AttrJobID))
	require.Equal(t, "wf-job-1", attrStr(lr, AttrWorkflowID))
	require.Equal(t, "record", attrStr(lr, AttrEvidence))
	require.Equal(t, "otlp", attrStr(lr, AttrSource))
}
