package comfypatternprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor"

import (
	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
)

// Config is the comfypattern processor configuration. The options live in the
// classifier package so comfyctl can load the same settings.
type Config struct {
	classifier.Options `mapstructure:",squash"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate compiles every rule; errors name the field (rules[2].pattern: ...).
func (cfg *Config) Validate() error {
	_, err := classifier.New(cfg.Options)
	return err
}
