package comfypatternprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor"

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
)

// Config is the comfypattern processor configuration. The rule options live
// in the classifier package so comfyctl can load the same settings.
type Config struct {
	classifier.Options `mapstructure:",squash"`

	// RulesFile names a YAML file of operator rules (`rules:` and `ignore:`,
	// the same language as in this config). It is re-read when it changes,
	// without a restart; a file that does not compile keeps the last good
	// rules. Its rules come after the config's own.
	RulesFile string `mapstructure:"rules_file"`
	// RulesFilePollInterval is how often the file's modification time and
	// size are checked.
	RulesFilePollInterval time.Duration `mapstructure:"rules_file_poll_interval"`

	// MaxBodyBytes cuts a longer string body to this many bytes (head and
	// tail kept, on UTF-8 boundaries) and marks the record comfy.truncated.
	// 0 disables.
	MaxBodyBytes int `mapstructure:"max_body_bytes"`

	// Context: how records are judged with the records before them from the
	// same source (log file, else instance).
	Context ContextConfig `mapstructure:"context"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// ContextConfig bounds the per-source state.
type ContextConfig struct {
	// Window: a source silent for longer starts afresh.
	Window time.Duration `mapstructure:"window"`
	// MaxSources: sources tracked at most (least recently used evicted).
	MaxSources int `mapstructure:"max_sources"`
	// Expiry: a source idle for longer is forgotten.
	Expiry time.Duration `mapstructure:"expiry"`
}

// Validate compiles every rule, including the rules file; errors name the
// field (rules[2].pattern: ..., rules_file: x.yaml: rules[0].class: ...).
func (cfg *Config) Validate() error {
	if _, err := classifier.New(cfg.Options); err != nil {
		return err
	}
	if cfg.MaxBodyBytes < 0 {
		return errors.New("max_body_bytes: must not be negative (0 disables)")
	}
	if cfg.MaxBodyBytes > 0 && cfg.MaxBodyBytes < 1024 {
		return fmt.Errorf("max_body_bytes: %d is too small to hold a useful record (at least 1024)", cfg.MaxBodyBytes)
	}
	if cfg.Context.Window < 0 {
		return errors.New("context.window: must not be negative")
	}
	if cfg.Context.Expiry < 0 {
		return errors.New("context.expiry: must not be negative")
	}
	if cfg.Context.MaxSources < 0 {
		return errors.New("context.max_sources: must not be negative")
	}
	if cfg.RulesFile != "" {
		if cfg.RulesFilePollInterval <= 0 {
			return errors.New("rules_file_poll_interval: must be positive")
		}
		if _, err := cfg.optionsWithFile(); err != nil {
			return err
		}
	}
	return nil
}

// optionsWithFile returns the options with the rules file's rules appended.
func (cfg *Config) optionsWithFile() (classifier.Options, error) {
	b, err := os.ReadFile(cfg.RulesFile)
	if err != nil {
		return classifier.Options{}, fmt.Errorf("rules_file: %w", err)
	}
	return MergeRulesFile(cfg.Options, cfg.RulesFile, b)
}

// MergeRulesFile appends the rules of a rules file (content b, read from
// path) to opts and compiles the result. Errors name the file and the field:
// `rules_file: /etc/comfy/rules.yaml: rules[1].pattern: ...`.
func MergeRulesFile(opts classifier.Options, path string, b []byte) (classifier.Options, error) {
	f, err := classifier.ParseRulesFile(b)
	if err != nil {
		return classifier.Options{}, fmt.Errorf("rules_file: %s: %w", path, err)
	}
	// Number the file's rules from 0 in errors: the operator edits the file.
	fileOnly := classifier.Options{Rules: f.Rules, Ignore: f.Ignore}
	if _, err := classifier.New(fileOnly); err != nil {
		return classifier.Options{}, fmt.Errorf("rules_file: %s: %w", path, err)
	}
	merged := opts
	merged.Rules = append(append([]classifier.RuleConfig(nil), opts.Rules...), f.Rules...)
	merged.Ignore = append(append([]classifier.IgnoreRuleConfig(nil), opts.Ignore...), f.Ignore...)
	if _, err := classifier.New(merged); err != nil {
		return classifier.Options{}, fmt.Errorf("rules_file: %s: %w", path, err)
	}
	return merged, nil
}
