package comfypatternprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/internal/metadata"
)

// NewFactory returns the comfypattern processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithLogs(createLogsProcessor, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		Options:               classifier.DefaultOptions(),
		RulesFilePollInterval: 5 * time.Second,
		MaxBodyBytes:          1 << 20,
		Context:               ContextConfig{Window: 10 * time.Second, MaxSources: 1024, Expiry: 10 * time.Minute},
	}
}

func createLogsProcessor(
	ctx context.Context,
	set processor.Settings,
	cfg component.Config,
	next consumer.Logs,
) (processor.Logs, error) {
	p, err := newLogsProcessor(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, p.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown))
}
