package comfypatternprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	def := loadConfig(t, "")
	assert.Equal(t, classifier.DefaultOptions(), def.Options)
	assert.NoError(t, confmap.Validate(def))

	custom := loadConfig(t, "custom")
	assert.NoError(t, confmap.Validate(custom))
	assert.True(t, custom.BuiltinRules)
	assert.Equal(t, []string{"progress.percent", "failure.traceback_frame"}, custom.DisabledRules)
	require.Len(t, custom.Rules, 3)
	assert.Equal(t, classifier.RuleConfig{Name: "my_steps", Class: "progress", Kind: "sampling", Pattern: `Step (?P<current>\d+) of (?P<total>\d+)`}, custom.Rules[0])
	assert.Equal(t, "1", custom.Rules[2].Current)
	assert.Equal(t, "2", custom.Rules[2].Total)
	require.Len(t, custom.Ignore, 1)
	assert.Equal(t, "oom_probe", custom.Ignore[0].Name)

	off := loadConfig(t, "builtin_off")
	assert.False(t, off.BuiltinRules)
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"bad_regex", "rules[2].pattern: error parsing regexp: missing closing ): `Step (\\d+`"},
		{"bad_class", `rules[0].class: must be progress or failure, got "progres"`},
		{"bad_ignore", "ignore[0].pattern: error parsing regexp"},
		{"unknown_disabled", `disabled_rules[0]: unknown built-in rule "progress.nope"`},
		{"bad_group", `rules[0].total: no capture group named "frames" in pattern`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := confmap.Validate(loadConfig(t, tt.name))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestValidateRuleFields(t *testing.T) {
	tests := []struct {
		name    string
		rule    classifier.RuleConfig
		wantErr string
	}{
		{"empty name", classifier.RuleConfig{Class: "failure", Pattern: "x"}, "rules[0].name: must not be empty"},
		{"empty pattern", classifier.RuleConfig{Name: "a", Class: "failure"}, "rules[0].pattern: must not be empty"},
		{"other class", classifier.RuleConfig{Name: "a", Class: "other", Pattern: "x"}, "rules[0].class: use an ignore rule"},
		{"group out of range", classifier.RuleConfig{Name: "a", Class: "progress", Pattern: `(\d+)`, Current: "2"}, "rules[0].current: capture group 2 does not exist"},
		{"counts on failure", classifier.RuleConfig{Name: "a", Class: "failure", Pattern: `(\d+)`, Current: "1"}, "rules[0]: current/total apply to progress rules only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Rules = []classifier.RuleConfig{tt.rule}
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = []classifier.RuleConfig{{Name: "a", Class: "failure", Pattern: "x"}, {Name: "a", Class: "failure", Pattern: "y"}}
	assert.ErrorContains(t, cfg.Validate(), `rules[1].name: "a" is already used by rules[0]`)
}
