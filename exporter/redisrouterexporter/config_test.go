package redisrouterexporter

import (
	"context"
	"path/filepath"
	"regexp"
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
	assert.Equal(t, time.Hour, cfg.Failures.TTL, "job streams expire an hour after their last entry by default")
	assert.Equal(t, "machine:{machine_id}:dead_letter", cfg.Failures.DeadLetterStream)
	assert.Equal(t, []string{"unknown", "none", "null", "undefined"}, cfg.Failures.NoJobIDs)
	assert.Equal(t, 5*time.Second, cfg.ProbeInterval)
	assert.True(t, cfg.Failures.Incident.Enabled, "one entry per incident by default")
	assert.Equal(t, 2*time.Second, cfg.Failures.Incident.Gap)
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
	assert.Equal(t, "machines:{machine_id}:dead", f.Failures.DeadLetterStream)
	assert.Equal(t, []string{"none", "n/a"}, f.Failures.NoJobIDs)
	assert.Equal(t, IncidentConfig{Enabled: true, Gap: 5 * time.Second}, f.Failures.Incident)
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
		{"dead letter uses job id", func(c *Config) { c.Failures.DeadLetterStream = "dl:{job_id}" }, "failures.dead_letter_stream: must not use {job_id}"},
		{"dead letter placeholder", func(c *Config) { c.Failures.DeadLetterStream = "dl:{gpu}" }, "failures.dead_letter_stream: unknown placeholder {gpu}"},
		{"no job ids", func(c *Config) { c.Failures.NoJobIDs = []string{"none", " "} }, "failures.no_job_ids[1]: must not be empty"},
		{"endpoint port text", func(c *Config) { c.Endpoint = "localhost:notaport" }, `endpoint: port must be a number from 1 to 65535, got "notaport"`},
		{"endpoint port range", func(c *Config) { c.Endpoint = "localhost:70000" }, `endpoint: port must be a number from 1 to 65535, got "70000"`},
		{"endpoint port zero", func(c *Config) { c.Endpoint = "localhost:0" }, "endpoint: port must be"},
		{"endpoint host", func(c *Config) { c.Endpoint = "bad host:6379" }, `endpoint: host "bad host" is not a valid host name`},
		{"endpoint empty host", func(c *Config) { c.Endpoint = ":6379" }, "endpoint: host is empty"},
		{"addrs", func(c *Config) { c.Mode = ModeCluster; c.Addrs = []string{"a:1", "b:x"} }, "addrs[1]: port must be"},
		{"url db", func(c *Config) { c.URL = "redis://h:6379/abc" }, `url: database path must be a non-negative integer, got "abc"`},
		{"url port", func(c *Config) { c.URL = "redis://h:99999/0" }, `url: port must be a number from 1 to 65535, got "99999"`},
		{"url host", func(c *Config) { c.URL = "redis://" }, "url: has no host"},
		{"url bad host", func(c *Config) { c.URL = "redis://a..b:1" }, `url: host "a..b" is not a valid host name`},
		{"url unparseable", func(c *Config) { c.URL = "redis://b%20d:1" }, "url: cannot be parsed"},
		{"db negative", func(c *Config) { c.DB = -1 }, "db: must be >= 0"},
		{"dial timeout", func(c *Config) { c.DialTimeout = 0 }, "dial_timeout: must be > 0"},
		{"read timeout", func(c *Config) { c.ReadTimeout = -time.Second }, "read_timeout: must be > 0"},
		{"write timeout", func(c *Config) { c.WriteTimeout = 0 }, "write_timeout: must be > 0"},
		{"probe interval", func(c *Config) { c.ProbeInterval = 0 }, "probe_interval: must be > 0"},
		{"pool size", func(c *Config) { c.PoolSize = -1 }, "pool_size: must be >= 0"},
		{"throttle", func(c *Config) { c.Progress.Throttle = -time.Second }, "progress.throttle: must be >= 0"},
		{"key part length", func(c *Config) { c.MaxKeyPartLength = 8 }, "max_key_part_length: must be at least 16"},
		{"placeholder name", func(c *Config) { c.Attributes["Bad-Name"] = []string{"x"} }, `attributes: placeholder name "Bad-Name"`},
		{"mode", func(c *Config) { c.Mode = "ring" }, "mode: must be one of"},
		{"sentinel master", func(c *Config) { c.Mode = ModeSentinel }, "master_name: required"},
		{"cluster db", func(c *Config) { c.Mode = ModeCluster; c.DB = 3 }, "db: must be 0 in cluster mode"},
		{"endpoint", func(c *Config) { c.Endpoint = "no-port" }, "endpoint: must be host:port"},
		{"url scheme", func(c *Config) { c.URL = "http://u:topsecret@h:1" }, "url: scheme must be"},
		{"ttl", func(c *Config) { c.Failures.TTL = time.Millisecond }, "failures.ttl"},
		{"incident gap", func(c *Config) { c.Failures.Incident.Gap = 0 }, "failures.incident.gap: must be > 0"},
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

	assert.Equal(t, "job-1.a_b", sanitizeKeyPart("job-1.a_b", 64), "a clean value is kept as is")
	marked := regexp.MustCompile(`^[A-Za-z0-9._-]*~[0-9a-f]{12}$`)
	for in, prefix := range map[string]string{
		"a b*c?d[e]f{g}h:i\nj\x00k": "a_b_c_d_e_f_g_h_i_j_k~",
		"x\xff\xfey":                "x__y~", // each invalid byte becomes one '_'
		"é":                         "_~",    // one rune, one '_'
	} {
		got := sanitizeKeyPart(in, 64)
		assert.True(t, strings.HasPrefix(got, prefix), "%q -> %q", in, got)
		assert.Regexp(t, marked, got, "a changed value carries the hash of the original")
	}
	// Ids that sanitise alike stay distinct, and never equal a clean id.
	seen := map[string]string{}
	for _, id := range []string{"a:b", "a/b", "a b", "a_b", "ü1", "é1", "ab", "a~b"} {
		k := sanitizeKeyPart(id, 64)
		if prev, ok := seen[k]; ok {
			t.Errorf("%q and %q share the key part %q", prev, id, k)
		}
		seen[k] = id
	}
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
