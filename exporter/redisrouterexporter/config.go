package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
)

// Values of the comfy.class attribute. The routing connector sends each
// instance one class; the exporter still reads it per record to know what to
// do with it (and counts anything else as not routed).
const (
	ClassProgress = "progress"
	ClassFailure  = "failure"
	ClassOther    = "other"

	classAttribute = "comfy.class"
)

// Connection modes, mapped onto go-redis's universal client.
const (
	ModeStandalone = "standalone"
	ModeSentinel   = "sentinel"
	ModeCluster    = "cluster"
)

// Placeholder names with a built-in meaning. Any other name configured under
// `attributes` is a valid placeholder too.
const (
	PlaceholderMachineID   = "machine_id"
	PlaceholderJobID       = "job_id"
	PlaceholderWorkflowID  = "workflow_id"
	PlaceholderInstance    = "instance"
	PlaceholderServiceName = "service_name"
)

// Config is the redisrouter exporter configuration; README.md documents
// every field with its default.
type Config struct {
	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig   configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`

	// URL is redis://[user:pass@]host:port/db or rediss://... It wins over
	// Endpoint when set. Opaque because it may hold a password.
	URL configopaque.String `mapstructure:"url"`
	// Endpoint is host:port of a standalone server (or the first seed).
	Endpoint string `mapstructure:"endpoint"`
	// Addrs are the seed addresses for sentinel and cluster modes.
	Addrs []string `mapstructure:"addrs"`
	// MasterName is the Sentinel master set name (mode sentinel).
	MasterName string `mapstructure:"master_name"`
	// SentinelUsername / SentinelPassword authenticate against the
	// Sentinels themselves when they differ from the data nodes.
	SentinelUsername string              `mapstructure:"sentinel_username"`
	SentinelPassword configopaque.String `mapstructure:"sentinel_password"`

	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
	DB       int                 `mapstructure:"db"`
	// TLS: insecure: true (the default) means plaintext unless the URL is
	// rediss://. Set insecure: false (plus ca_file etc.) to enable TLS.
	TLS  configtls.ClientConfig `mapstructure:"tls"`
	Mode string                 `mapstructure:"mode"`

	DialTimeout  time.Duration `mapstructure:"dial_timeout"`
	ReadTimeout  time.Duration `mapstructure:"read_timeout"`
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	PoolSize     int           `mapstructure:"pool_size"`
	// ProbeInterval: how often Redis is pinged while no batch went out, so
	// that the component status and redis_up reflect an idle tier too.
	ProbeInterval time.Duration `mapstructure:"probe_interval"`

	Progress ProgressConfig `mapstructure:"progress"`
	Failures FailuresConfig `mapstructure:"failures"`

	// Attributes maps a placeholder to the attribute names tried, in order,
	// on the record, then its scope, then its resource.
	Attributes map[string][]string `mapstructure:"attributes"`
	// DefaultMachineID replaces a missing machine id: records are never
	// dropped for lack of one.
	DefaultMachineID string `mapstructure:"default_machine_id"`
	// MaxKeyPartLength bounds one placeholder value inside a key.
	MaxKeyPartLength int `mapstructure:"max_key_part_length"`

	_ struct{}
}

// ProgressConfig is the Pub/Sub side.
type ProgressConfig struct {
	Channel string `mapstructure:"channel"`
	// MaxAge: progress older than this (observed or record timestamp,
	// whichever is newer, against now) is dropped and counted, so a retry or
	// a queue replay never shows a UI a stale state. 0 disables the check.
	MaxAge time.Duration `mapstructure:"max_age"`
	// Throttle: at most one update per channel+job per interval; within a
	// batch the latest state wins; final states and lifecycle events always
	// pass. 0 disables throttling.
	Throttle time.Duration `mapstructure:"throttle"`
}

// FailuresConfig is the Streams side.
type FailuresConfig struct {
	Stream         string `mapstructure:"stream"`
	FallbackStream string `mapstructure:"fallback_stream"`
	// DeadLetterStream receives the failures whose stream Redis refuses
	// (WRONGTYPE, NOPERM on the key), with the original key and the error.
	DeadLetterStream string `mapstructure:"dead_letter_stream"`
	// MaxLen is applied as XADD MAXLEN ~ MaxLen (approximate trimming) to
	// every stream: job, fallback and dead-letter.
	MaxLen int64 `mapstructure:"maxlen"`
	// TTL: EXPIRE on the job stream after each XADD, so a finished job's
	// stream goes away TTL after its last entry. 0 disables. The fallback
	// and dead-letter streams are per machine and never expire (capped).
	TTL time.Duration `mapstructure:"ttl"`
	// NoJobIDs are job id values that mean "no job" (compared without
	// case): such failures go to the fallback stream. Empty always does.
	NoJobIDs []string `mapstructure:"no_job_ids"`
	// Incident: the failure records of one push that report one failure
	// (a banner, its traceback, its detail lines) become one stream entry.
	Incident IncidentConfig `mapstructure:"incident"`
}

// IncidentConfig groups a push's failure records into incidents (package
// incident): one XADD per incident, with the whole text and the root
// cause's kind. The push is the window: exporterhelper's sending_queue
// batch (flush_timeout) decides which records one push sees.
type IncidentConfig struct {
	// Enabled: off, every failure record is its own entry.
	Enabled bool `mapstructure:"enabled"`
	// Gap is the longest time between an incident's last record and a
	// detail record (traceback, indented or exception line, ...) that
	// joins it; records marked comfy.failure.continues join regardless.
	Gap time.Duration `mapstructure:"gap"`
}

var (
	_ component.Config  = (*Config)(nil)
	_ confmap.Validator = (*Config)(nil)
)

func defaultAttributes() map[string][]string {
	return map[string][]string{
		PlaceholderMachineID:   {"machine.id", "host.name"},
		PlaceholderJobID:       {"job.id", "emerge.job_id", "comfy.job_id"},
		PlaceholderWorkflowID:  {"emerge.workflow_id", "workflow.id"},
		PlaceholderInstance:    {"comfy.instance", "service.instance.id"},
		PlaceholderServiceName: {"service.name"},
	}
}

// DefaultDeadLetterStream is failures.dead_letter_stream's default.
const DefaultDeadLetterStream = "machine:{machine_id}:dead_letter"

func createDefaultConfig() component.Config {
	return &Config{
		TimeoutConfig: exporterhelper.TimeoutConfig{Timeout: 5 * time.Second},
		QueueConfig:   configoptional.Some(exporterhelper.NewDefaultQueueConfig()),
		RetryConfig:   configretry.NewDefaultBackOffConfig(),
		Endpoint:      "localhost:6379",
		TLS:           configtls.ClientConfig{Insecure: true},
		Mode:          ModeStandalone,
		DialTimeout:   5 * time.Second,
		ReadTimeout:   3 * time.Second,
		WriteTimeout:  3 * time.Second,
		PoolSize:      10,
		ProbeInterval: 5 * time.Second,
		Progress: ProgressConfig{
			Channel: payload.DefaultProgressChannel,
			MaxAge:  10 * time.Second,
		},
		Failures: FailuresConfig{
			Stream:           payload.DefaultFailureStream,
			FallbackStream:   payload.DefaultFallbackStream,
			DeadLetterStream: DefaultDeadLetterStream,
			MaxLen:           1000,
			TTL:              time.Hour,
			NoJobIDs:         []string{"unknown", "none", "null", "undefined"},
			Incident: IncidentConfig{
				Enabled: true,
				Gap:     2 * time.Second,
			},
		},
		Attributes:       defaultAttributes(),
		DefaultMachineID: "unknown",
		MaxKeyPartLength: 64,
	}
}

// Validate checks every setting and names the offending field. It never
// echoes a secret (a URL is shown redacted).
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}

	// Where to connect.
	if u := string(c.URL); u != "" {
		for _, msg := range checkRedisURL(u) {
			add("url", "%s (in %s)", msg, redactURL(u))
		}
	} else if c.Mode == ModeStandalone || c.Mode == "" {
		if c.Endpoint == "" {
			add("endpoint", "required when url is empty")
		} else if msg := checkHostPort(c.Endpoint); msg != "" {
			add("endpoint", "%s", msg)
		}
	}
	for i, a := range c.Addrs {
		if msg := checkHostPort(a); msg != "" {
			add(fmt.Sprintf("addrs[%d]", i), "%s", msg)
		}
	}
	switch c.Mode {
	case "", ModeStandalone:
	case ModeSentinel:
		if c.MasterName == "" {
			add("master_name", "required in sentinel mode")
		}
		if len(c.Addrs) == 0 && c.URL == "" && c.Endpoint == "" {
			add("addrs", "sentinel mode needs at least one sentinel address")
		}
	case ModeCluster:
		if len(c.Addrs) == 0 && c.URL == "" && c.Endpoint == "" {
			add("addrs", "cluster mode needs at least one seed address")
		}
		if c.DB != 0 {
			add("db", "must be 0 in cluster mode (Redis Cluster has only database 0)")
		}
	default:
		add("mode", "must be one of standalone, sentinel, cluster; got %q", c.Mode)
	}
	if c.DB < 0 {
		add("db", "must be >= 0, got %d", c.DB)
	}
	if c.PoolSize < 0 {
		add("pool_size", "must be >= 0 (0: go-redis's default), got %d", c.PoolSize)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dial_timeout", c.DialTimeout}, {"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout}, {"probe_interval", c.ProbeInterval}} {
		if d.v <= 0 {
			add(d.name, "must be > 0, got %s", d.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"progress.max_age", c.Progress.MaxAge}, {"progress.throttle", c.Progress.Throttle}, {"failures.ttl", c.Failures.TTL}} {
		if d.v < 0 {
			add(d.name, "must be >= 0 (0 disables), got %s", d.v)
		}
	}
	if c.Failures.TTL > 0 && c.Failures.TTL < time.Second {
		add("failures.ttl", "must be 0 (off) or at least 1s (EXPIRE has second resolution), got %s", c.Failures.TTL)
	}
	if c.Failures.MaxLen <= 0 {
		add("failures.maxlen", "must be > 0, got %d", c.Failures.MaxLen)
	}
	if c.Failures.Incident.Enabled && c.Failures.Incident.Gap <= 0 {
		add("failures.incident.gap", "must be > 0 when failures.incident.enabled is true, got %s", c.Failures.Incident.Gap)
	}
	for i, id := range c.Failures.NoJobIDs {
		if strings.TrimSpace(id) == "" {
			add(fmt.Sprintf("failures.no_job_ids[%d]", i), "must not be empty (an empty job id always means no job)")
		}
	}

	// Placeholders and templates.
	for ph, names := range c.Attributes {
		if !validPlaceholderName(ph) {
			add("attributes", "placeholder name %q must match [a-z0-9_]+", ph)
		}
		if len(names) == 0 {
			add("attributes."+ph, "must list at least one attribute name")
		}
		for i, n := range names {
			if n == "" {
				add(fmt.Sprintf("attributes.%s[%d]", ph, i), "empty attribute name")
			}
		}
	}
	if _, ok := c.Attributes[PlaceholderMachineID]; !ok {
		add("attributes.machine_id", "required (the machine id names progress channels and fallback streams)")
	}
	if _, ok := c.Attributes[PlaceholderJobID]; !ok {
		add("attributes.job_id", "required (the job id names failure streams)")
	}
	if c.MaxKeyPartLength < 16 {
		add("max_key_part_length", "must be at least 16, got %d", c.MaxKeyPartLength)
	}
	if c.DefaultMachineID == "" || strings.IndexFunc(c.DefaultMachineID, func(r rune) bool { return r > 0x7f || !keySafe(byte(r)) }) >= 0 {
		add("default_machine_id", "must be non-empty and use only [A-Za-z0-9._-], got %q", c.DefaultMachineID)
	}
	checkTemplate := func(field, tmpl string, forbidden ...string) {
		t, err := parseTemplate(tmpl)
		if err != nil {
			add(field, "%v", err)
			return
		}
		for _, ph := range t.placeholders() {
			if _, ok := c.Attributes[ph]; !ok {
				add(field, "unknown placeholder {%s} in %q (known: %s)", ph, tmpl, strings.Join(c.placeholderNames(), ", "))
			}
			if slices.Contains(forbidden, ph) {
				add(field, "must not use {%s}: this stream is used exactly when that value is missing", ph)
			}
		}
	}
	checkTemplate("progress.channel", c.Progress.Channel)
	checkTemplate("failures.stream", c.Failures.Stream)
	checkTemplate("failures.fallback_stream", c.Failures.FallbackStream, PlaceholderJobID)
	checkTemplate("failures.dead_letter_stream", c.Failures.DeadLetterStream, PlaceholderJobID)
	return errors.Join(errs...)
}

// checkRedisURL returns what is wrong with a redis:// or rediss:// URL.
func checkRedisURL(s string) []string {
	u, err := url.Parse(s)
	if err != nil {
		return []string{"cannot be parsed"}
	}
	var out []string
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		out = append(out, fmt.Sprintf("scheme must be redis or rediss, got %q", u.Scheme))
	}
	if u.Host == "" {
		return append(out, "has no host")
	}
	host, port := u.Hostname(), u.Port()
	if port == "" && strings.HasSuffix(u.Host, ":") {
		out = append(out, "has an empty port")
	}
	if msg := checkHost(host); msg != "" {
		out = append(out, msg)
	}
	if port != "" {
		if msg := checkPort(port); msg != "" {
			out = append(out, msg)
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			out = append(out, fmt.Sprintf("database path must be a non-negative integer, got %q", db))
		}
	}
	return out
}

// checkHostPort returns what is wrong with host:port, "" when nothing.
func checkHostPort(hp string) string {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Sprintf("must be host:port, got %q", hp)
	}
	if msg := checkHost(host); msg != "" {
		return msg
	}
	return checkPort(port)
}

func checkPort(p string) string {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port must be a number from 1 to 65535, got %q", p)
	}
	return ""
}

// checkHost accepts an IP address or a DNS name (letters, digits, '-', '_'
// and dots; no spaces or other characters a resolver would reject).
func checkHost(h string) string {
	if h == "" {
		return "host is empty"
	}
	if net.ParseIP(h) != nil {
		return ""
	}
	if len(h) > 253 {
		return fmt.Sprintf("host %q is longer than 253 characters", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Sprintf("host %q is not a valid host name", h)
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
				return fmt.Sprintf("host %q is not a valid host name", h)
			}
		}
	}
	return ""
}

func (c *Config) placeholderNames() []string {
	out := make([]string, 0, len(c.Attributes))
	for k := range c.Attributes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func validPlaceholderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// redactURL hides the userinfo password of a Redis URL for logs and errors.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparseable url>"
	}
	return u.Redacted()
}
