package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
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

// Routes: the values of the comfy.class attribute an instance may send.
const (
	RouteProgress = "progress"
	RouteFailure  = "failure"
	RouteOther    = "other"
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

// Config is the redisrouter exporter configuration. The schema is agreed in
// the team brief; README.md documents every field.
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

	// Routes lists the comfy.class values this instance sends.
	Routes []string `mapstructure:"routes"`
	// ClassAttribute is the record attribute holding the class.
	ClassAttribute string `mapstructure:"class_attribute"`

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

// ProgressConfig is the Pub/Sub route.
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

// FailuresConfig is the Streams route.
type FailuresConfig struct {
	Stream         string `mapstructure:"stream"`
	FallbackStream string `mapstructure:"fallback_stream"`
	// MaxLen is applied as XADD MAXLEN ~ MaxLen (approximate trimming).
	MaxLen int64 `mapstructure:"maxlen"`
	// TTL, when > 0, sets EXPIRE on the job stream after each XADD so
	// finished jobs do not pile up keys. The fallback stream never expires.
	TTL time.Duration `mapstructure:"ttl"`
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

func createDefaultConfig() component.Config {
	return &Config{
		TimeoutConfig:  exporterhelper.TimeoutConfig{Timeout: 5 * time.Second},
		QueueConfig:    configoptional.Some(exporterhelper.NewDefaultQueueConfig()),
		RetryConfig:    configretry.NewDefaultBackOffConfig(),
		Endpoint:       "localhost:6379",
		TLS:            configtls.ClientConfig{Insecure: true},
		Mode:           ModeStandalone,
		DialTimeout:    5 * time.Second,
		ReadTimeout:    3 * time.Second,
		WriteTimeout:   3 * time.Second,
		PoolSize:       10,
		Routes:         []string{RouteProgress, RouteFailure},
		ClassAttribute: "comfy.class",
		Progress: ProgressConfig{
			Channel: payload.DefaultProgressChannel,
			MaxAge:  10 * time.Second,
		},
		Failures: FailuresConfig{
			Stream:         payload.DefaultFailureStream,
			FallbackStream: payload.DefaultFallbackStream,
			MaxLen:         1000,
		},
		Attributes:       defaultAttributes(),
		DefaultMachineID: "unknown",
		MaxKeyPartLength: 64,
	}
}

// Validate checks the configuration. Errors name the offending field and
// never echo a secret (a URL is shown redacted).
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}

	if u := string(c.URL); u != "" {
		pu, err := url.Parse(u)
		switch {
		case err != nil:
			add("url", "cannot be parsed (value not shown: it may hold a password)")
		case pu.Scheme != "redis" && pu.Scheme != "rediss":
			add("url", "scheme must be redis:// or rediss://, got %q in %s", pu.Scheme, redactURL(u))
		case pu.Host == "":
			add("url", "has no host: %s", redactURL(u))
		}
	} else if c.Mode == ModeStandalone || c.Mode == "" {
		if c.Endpoint == "" {
			add("endpoint", "required when url is empty")
		} else if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
			add("endpoint", "must be host:port, got %q", c.Endpoint)
		}
	}
	for i, a := range c.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			add(fmt.Sprintf("addrs[%d]", i), "must be host:port, got %q", a)
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
		add("pool_size", "must be >= 0, got %d", c.PoolSize)
	}
	for name, d := range map[string]time.Duration{
		"dial_timeout": c.DialTimeout, "read_timeout": c.ReadTimeout, "write_timeout": c.WriteTimeout,
		"progress.max_age": c.Progress.MaxAge, "progress.throttle": c.Progress.Throttle, "failures.ttl": c.Failures.TTL,
	} {
		if d < 0 {
			add(name, "must not be negative, got %s", d)
		}
	}
	if c.Failures.TTL > 0 && c.Failures.TTL < time.Second {
		add("failures.ttl", "must be 0 (off) or at least 1s, got %s", c.Failures.TTL)
	}

	if len(c.Routes) == 0 {
		add("routes", "must list at least one of progress, failure, other")
	}
	seen := map[string]bool{}
	for i, r := range c.Routes {
		switch r {
		case RouteProgress, RouteFailure, RouteOther:
		default:
			add(fmt.Sprintf("routes[%d]", i), "unknown route %q (want progress, failure or other)", r)
		}
		if seen[r] {
			add(fmt.Sprintf("routes[%d]", i), "duplicate route %q", r)
		}
		seen[r] = true
	}
	if c.ClassAttribute == "" {
		add("class_attribute", "must not be empty")
	}

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
	if sanitizeKeyPart(c.DefaultMachineID, 1<<30) != c.DefaultMachineID || c.DefaultMachineID == "" {
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
				add(field, "must not use {%s}: %s", ph, "it is used exactly when that value is missing")
			}
		}
	}
	if seen[RouteProgress] || c.Progress.Channel != "" {
		checkTemplate("progress.channel", c.Progress.Channel)
	}
	if seen[RouteFailure] || seen[RouteOther] {
		checkTemplate("failures.stream", c.Failures.Stream)
		checkTemplate("failures.fallback_stream", c.Failures.FallbackStream, PlaceholderJobID)
		if c.Failures.MaxLen <= 0 {
			add("failures.maxlen", "must be > 0, got %d", c.Failures.MaxLen)
		}
	}
	return errors.Join(errs...)
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
