package redisrouterexporter

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	id := component.NewID(metadata.Type)
	if name != "" {
		id = component.NewIDWithName(metadata.Type, name)
	}
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "machine:{machine_id}:progress", cfg.Progress.Channel)
	assert.Equal(t, "job:events:{job_id}", cfg.Failures.Stream)
	assert.Equal(t, "machine:{machine_id}:failures", cfg.Failures.FallbackStream)
	assert.Equal(t, int64(1000), cfg.Failures.MaxLen)
	assert.Equal(t, 10*time.Second, cfg.Progress.MaxAge)
	assert.Equal(t, []string{"machine.id", "host.name"}, cfg.Attributes["machine_id"])
	assert.Equal(t, []string{"job.id", "emerge.job_id", "comfy.job_id"}, cfg.Attributes["job_id"])
	assert.Equal(t, 5*time.Second, cfg.TimeoutConfig.Timeout)
}

func TestLoadConfig(t *testing.T) {
	def := loadConfig(t, "")
	require.NoError(t, confmap.Validate(def))
	assert.Equal(t, createDefaultConfig(), def)

	p := loadConfig(t, "progress")
	require.NoError(t, confmap.Validate(p))
	assert.Equal(t, "redis.internal:6380", p.Endpoint)
	assert.Equal(t, "hunter2", string(p.Password))
	assert.Equal(t, 2, p.DB)
	assert.Equal(t, []string{"progress"}, p.Routes)
	assert.Equal(t, 5*time.Second, p.Progress.MaxAge)
	assert.Equal(t, 250*time.Millisecond, p.Progress.Throttle)
	assert.Equal(t, int64(100), p.QueueConfig.Get().QueueSize)
	assert.Equal(t, 10*time.Second, p.RetryConfig.MaxElapsedTime)

	f := loadConfig(t, "failures")
	require.NoError(t, confmap.Validate(f))
	assert.False(t, f.TLS.Insecure)
	assert.Equal(t, "/etc/ssl/redis-ca.pem", f.TLS.CAFile)
	assert.Equal(t, int64(5000), f.Failures.MaxLen)
	assert.Equal(t, 24*time.Hour, f.Failures.TTL)
	assert.Equal(t, []string{"prompt_id", "job.id"}, f.Attributes["job_id"])
	assert.Equal(t, []string{"machine.id", "host.name"}, f.Attributes["machine_id"], "defaults for other placeholders stay")
	assert.Equal(t, "file_storage/queue", f.QueueConfig.Get().StorageID.String())
	opts, err := clientOptions(context.Background(), &Config{URL: f.URL, Mode: ModeStandalone, TLS: f.TLS})
	if err == nil { // the CA file does not exist here; only check the URL parts when it does
		assert.Equal(t, "worker", opts.Username)
	}

	c := loadConfig(t, "cluster")
	require.NoError(t, confmap.Validate(c))
	s := loadConfig(t, "sentinel")
	require.NoError(t, confmap.Validate(s))
}

func TestClientOptions(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.URL = "redis://u:pw@10.1.2.3:6390/4"
	opts, err := clientOptions(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"10.1.2.3:6390"}, opts.Addrs)
	assert.Equal(t, "u", opts.Username)
	assert.Equal(t, "pw", opts.Password)
	assert.Equal(t, 4, opts.DB)
	assert.Nil(t, opts.TLSConfig)

	cfg.URL = "rediss://10.1.2.3:6390"
	opts, err = clientOptions(context.Background(), cfg)
	require.NoError(t, err)
	require.NotNil(t, opts.TLSConfig, "rediss:// enables TLS")
	assert.Equal(t, "10.1.2.3", opts.TLSConfig.ServerName)

	cfg = createDefaultConfig().(*Config)
	cfg.Mode = ModeCluster
	cfg.Addrs = []string{"a:1", "b:2"}
	opts, err = clientOptions(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"a:1", "b:2"}, opts.Addrs, "the default endpoint is not added to cluster seeds")
	assert.True(t, opts.IsClusterMode)

	cfg = createDefaultConfig().(*Config)
	cfg.Mode = ModeSentinel
	cfg.MasterName = "mymaster"
	cfg.Addrs = []string{"s1:26379"}
	opts, err = clientOptions(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, "mymaster", opts.MasterName)
}

func TestValidateErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"unknown placeholder", func(c *Config) { c.Failures.Stream = "job:{jobid}" }, "failures.stream: unknown placeholder {jobid}"},
		{"unclosed brace", func(c *Config) { c.Progress.Channel = "machine:{machine_id" }, "progress.channel: unclosed"},
		{"fallback uses job id", func(c *Config) { c.Failures.FallbackStream = "x:{job_id}" }, "failures.fallback_stream: must not use {job_id}"},
		{"maxlen", func(c *Config) { c.Failures.MaxLen = 0 }, "failures.maxlen: must be > 0"},
		{"routes empty", func(c *Config) { c.Routes = nil }, "routes: must list"},
		{"route unknown", func(c *Config) { c.Routes = []string{"progress", "errors"} }, `routes[1]: unknown route "errors"`},
		{"mode", func(c *Config) { c.Mode = "ring" }, "mode: must be one of"},
		{"sentinel master", func(c *Config) { c.Mode = ModeSentinel }, "master_name: required"},
		{"cluster db", func(c *Config) { c.Mode = ModeCluster; c.DB = 3 }, "db: must be 0 in cluster mode"},
		{"endpoint", func(c *Config) { c.Endpoint = "no-port" }, "endpoint: must be host:port"},
		{"url scheme", func(c *Config) { c.URL = "http://u:topsecret@h:1" }, "url: scheme must be"},
		{"ttl", func(c *Config) { c.Failures.TTL = time.Millisecond }, "failures.ttl"},
		{"max age", func(c *Config) { c.Progress.MaxAge = -time.Second }, "progress.max_age"},
		{"default machine", func(c *Config) { c.DefaultMachineID = "a b" }, "default_machine_id"},
		{"attribute list", func(c *Config) { c.Attributes["job_id"] = nil }, "attributes.job_id: must list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.mutate(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "topsecret")
		})
	}
}

func TestURLSecretsNeverInErrors(t *testing.T) {
	for _, u := range []string{"redis://user:topsecret@host:1/notanumber", "redis://user:topsecret@%zz", "ftp://user:topsecret@host"} {
		cfg := createDefaultConfig().(*Config)
		cfg.URL = configopaqueString(u)
		if err := cfg.Validate(); err != nil {
			assert.NotContains(t, err.Error(), "topsecret", u)
		}
		if _, err := clientOptions(context.Background(), cfg); err != nil {
			assert.NotContains(t, err.Error(), "topsecret", u)
		}
	}
}

func TestTemplatesAndSanitize(t *testing.T) {
	tp, err := parseTemplate("job:events:{job_id}")
	require.NoError(t, err)
	assert.Equal(t, []string{"job_id"}, tp.placeholders())
	assert.Equal(t, "job:events:abc", tp.render(func(string) string { return "abc" }))
	for _, bad := range []string{"", "a}b", "{", "{}", "{Job}", "x{a-b}"} {
		_, err := parseTemplate(bad)
		assert.Error(t, err, bad)
	}

	assert.Equal(t, "job-1.a_b", sanitizeKeyPart("job-1.a_b", 64))
	assert.Equal(t, "a_b_c_d_e_f_g_h_i_j_k", sanitizeKeyPart("a b*c?d[e]f{g}h:i\nj\x00k", 64))
	assert.Equal(t, "x__y", sanitizeKeyPart("x\xff\xfey", 64), "each invalid byte becomes one '_'")
	assert.Equal(t, "_", sanitizeKeyPart("é", 64), "one rune, one '_'")
	long := sanitizeKeyPart(strings.Repeat("z", 10000), 64)
	assert.Len(t, long, 64)
	assert.NotEqual(t, long, sanitizeKeyPart(strings.Repeat("z", 9999)+"y", 64))
	assert.Equal(t, long, sanitizeKeyPart(strings.Repeat("z", 10000), 64), "deterministic")
}

func TestCleanText(t *testing.T) {
	assert.Equal(t, "line1\nline2", cleanText("\x1b[31mline1\r\nline2\x1b[0m"))
	assert.Equal(t, " 50%|#####     | 5/10", cleanText("  0%|          | 0/10\r 50%|#####     | 5/10"))
	assert.Equal(t, "ok", cleanLine("  ok \r"))
}

func configopaqueString(s string) configopaque.String { return configopaque.String(s) }
