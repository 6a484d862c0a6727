package comfyjobprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg.(*Config)
}

func TestLoadConfig(t *testing.T) {
	def := loadConfig(t, "")
	assert.Equal(t, createDefaultConfig(), def)
	require.NoError(t, confmap.Validate(def))
	assert.False(t, def.WorkerState.Enabled, "off unless enabled")
	assert.Equal(t, []string{"emerge.job_id", "job.id", "comfy.job_id"}, def.Job.IDAttributes)
	assert.Equal(t, 60*time.Second, def.Duplicates.Window)

	c := loadConfig(t, "custom")
	require.NoError(t, confmap.Validate(c))
	assert.Equal(t, []string{"comfy.instance", "service.instance.id"}, c.Instance.Attributes)
	assert.Equal(t, 16, c.Job.MaxJobsPerInstance)
	assert.Equal(t, 30*time.Second, c.Duplicates.Window)
	assert.True(t, c.WorkerState.Enabled)
	assert.Equal(t, "workers:{worker_id}", c.WorkerState.Key)
	assert.Equal(t, "", c.WorkerState.Channel)
	assert.Equal(t, 500*time.Millisecond, c.WorkerState.PollInterval)
	assert.Equal(t, "current_job_id", createDefaultConfig().WorkerState.JobField)
	assert.Equal(t, 8, c.MaxInstances)
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for name, want := range map[string]string{
		"bad_pattern":     "instance.worker_id_pattern",
		"bad_format":      "instance.format: {number}",
		"bad_worker_key":  "worker_state.key",
		"bad_window":      "duplicates.window",
		"bad_template":    "worker_state.worker_id_template: {machine}",
		"nothing_to_read": "worker_state.poll_interval",
	} {
		t.Run(name, func(t *testing.T) {
			err := confmap.Validate(loadConfig(t, name))
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
	cfg := createDefaultConfig()
	cfg.WorkerState.Enabled = true
	cfg.WorkerState.URL = "http://nope"
	assert.ErrorContains(t, cfg.Validate(), "worker_state.url")
	cfg = createDefaultConfig()
	cfg.Job.IDAttributes = nil
	cfg.MaxInstances = 0
	err := cfg.Validate()
	assert.ErrorContains(t, err, "job.id_attributes")
	assert.ErrorContains(t, err, "max_instances")
}
