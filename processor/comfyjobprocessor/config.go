package comfyjobprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
)

// Config is the comfyjob processor configuration. README.md documents every
// field; the defaults are the platform's names (../shared/context/platform.md).
type Config struct {
	Instance    InstanceConfig    `mapstructure:"instance"`
	Job         JobConfig         `mapstructure:"job"`
	Duplicates  DuplicatesConfig  `mapstructure:"duplicates"`
	WorkerState WorkerStateConfig `mapstructure:"worker_state"`

	// MaxInstances bounds the per-instance state (timelines, line rings).
	// The least recently seen instance is forgotten first.
	MaxInstances int `mapstructure:"max_instances"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// InstanceConfig says how a record names its ComfyUI instance.
type InstanceConfig struct {
	// Attributes are read on the record, then on the resource; first found wins.
	Attributes []string `mapstructure:"attributes"`
	// WorkerIDAttributes name the platform's worker id (record, then
	// resource), used when no instance attribute is present.
	WorkerIDAttributes []string `mapstructure:"worker_id_attributes"`
	// WorkerIDPattern matches a worker id; its named groups fill Format.
	WorkerIDPattern string `mapstructure:"worker_id_pattern"`
	// Format builds the instance from WorkerIDPattern's groups: {index} is
	// the group named index.
	Format string `mapstructure:"format"`
}

// JobConfig says where job ids are found and what bounds a job.
type JobConfig struct {
	// IDAttributes name a record's own job id (record, then resource).
	IDAttributes []string `mapstructure:"id_attributes"`
	// WorkflowIDAttributes name a record's own workflow id.
	WorkflowIDAttributes []string `mapstructure:"workflow_id_attributes"`
	// Placeholders are values meaning "no job", compared case-insensitively,
	// beside the empty string and `unknown`, which always mean no job.
	Placeholders []string `mapstructure:"placeholders"`
	// LifecycleAttribute holds comfypattern's lifecycle event
	// (prompt_started, prompt_executed, interrupted). Empty disables
	// lifecycle evidence.
	LifecycleAttribute string `mapstructure:"lifecycle_attribute"`
	// MaxJobsPerInstance bounds each instance's timeline of job intervals.
	MaxJobsPerInstance int `mapstructure:"max_jobs_per_instance"`
}

// DuplicatesConfig controls marking of lines that arrive from both sources.
type DuplicatesConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Window is how long a line seen from one source waits for its copy
	// from the other source.
	Window time.Duration `mapstructure:"window"`
	// MaxLinesPerInstance bounds the remembered lines of each instance.
	MaxLinesPerInstance int `mapstructure:"max_lines_per_instance"`
}

// WorkerStateConfig reads the job workers' state in Redis. Off by default.
type WorkerStateConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// URL is redis://[user:pass@]host:port/db or rediss://…; wins over Endpoint.
	URL      configopaque.String `mapstructure:"url"`
	Endpoint string              `mapstructure:"endpoint"`
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
	DB       int                 `mapstructure:"db"`

	// Key is the worker's hash; {worker_id} is replaced.
	Key string `mapstructure:"key"`
	// JobField is the hash field holding the worker's current job id.
	JobField string `mapstructure:"job_field"`
	// ChangedField is the hash field with the time of the last status
	// change (the job's start when it names a job); empty to ignore.
	ChangedField string `mapstructure:"changed_field"`
	// Channel carries JSON status changes {worker_id, current_job_id,
	// new_status, timestamp, …}; empty disables the subscription.
	Channel string `mapstructure:"channel"`
	// PollInterval between reads of every known worker's hash; 0 disables polling.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// Timeout bounds each Redis call.
	Timeout time.Duration `mapstructure:"timeout"`
	// LookupTimeout bounds the one read made inline when a prompt starts
	// and the worker's state names no new job yet; 0 disables it. Skipped
	// while Redis is failing, so an outage never slows the pipeline.
	LookupTimeout time.Duration `mapstructure:"lookup_timeout"`

	// WorkerIDTemplate derives a worker id from an instance: {machine_id}
	// and the named groups of InstancePattern ({index}).
	WorkerIDTemplate string `mapstructure:"worker_id_template"`
	// InstancePattern matches an instance name (gpu0).
	InstancePattern string `mapstructure:"instance_pattern"`
	// MachineID is used when no MachineIDAttributes is on the resource.
	MachineID string `mapstructure:"machine_id"`
	// MachineIDAttributes name the machine id (resource, then record).
	MachineIDAttributes []string `mapstructure:"machine_id_attributes"`
}

func createDefaultConfig() *Config {
	return &Config{
		Instance: InstanceConfig{
			Attributes:         []string{AttrInstance},
			WorkerIDAttributes: []string{"worker.id"},
			WorkerIDPattern:    `^(?P<machine_id>.+)-worker-comfyui-(?P<index>\d+)$`,
			Format:             "gpu{index}",
		},
		Job: JobConfig{
			IDAttributes:         []string{"emerge.job_id", "job.id", AttrJobID},
			WorkflowIDAttributes: []string{"emerge.workflow_id", "workflow.id", AttrWorkflowID},
			Placeholders:         []string{"none", "null", "nil", "undefined", "n/a", "-"},
			LifecycleAttribute:   "comfy.progress.event",
			MaxJobsPerInstance:   64,
		},
		Duplicates: DuplicatesConfig{
			Enabled:             true,
			Window:              60 * time.Second,
			MaxLinesPerInstance: 8192,
		},
		WorkerState: WorkerStateConfig{
			Endpoint:            "localhost:6379",
			Key:                 "worker:{worker_id}",
			JobField:            "current_job_id",
			ChangedField:        "last_status_change",
			Channel:             "worker_status",
			PollInterval:        250 * time.Millisecond,
			Timeout:             500 * time.Millisecond,
			LookupTimeout:       100 * time.Millisecond,
			WorkerIDTemplate:    "{machine_id}-worker-comfyui-{index}",
			InstancePattern:     `^gpu(?P<index>\d+)$`,
			MachineIDAttributes: []string{"machine.id"},
		},
		MaxInstances: 64,
	}
}

var placeholderRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Validate checks every field and names the one at fault.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if len(cfg.Instance.Attributes) == 0 && len(cfg.Instance.WorkerIDAttributes) == 0 {
		add("instance", "at least one of attributes and worker_id_attributes is needed")
	}
	if len(cfg.Instance.WorkerIDAttributes) > 0 {
		re, err := regexp.Compile(cfg.Instance.WorkerIDPattern)
		if err != nil {
			add("instance.worker_id_pattern", "%v", err)
		} else if err := checkTemplate(cfg.Instance.Format, re.SubexpNames(), nil); err != nil {
			add("instance.format", "%v", err)
		}
	}
	if len(cfg.Job.IDAttributes) == 0 {
		add("job.id_attributes", "must not be empty")
	}
	if cfg.Job.MaxJobsPerInstance < 2 {
		add("job.max_jobs_per_instance", "must be at least 2, got %d", cfg.Job.MaxJobsPerInstance)
	}
	if cfg.MaxInstances < 1 {
		add("max_instances", "must be at least 1, got %d", cfg.MaxInstances)
	}
	if cfg.Duplicates.Enabled {
		if cfg.Duplicates.Window <= 0 {
			add("duplicates.window", "must be positive, got %s", cfg.Duplicates.Window)
		}
		if cfg.Duplicates.MaxLinesPerInstance < 16 {
			add("duplicates.max_lines_per_instance", "must be at least 16, got %d", cfg.Duplicates.MaxLinesPerInstance)
		}
	}
	if ws := cfg.WorkerState; ws.Enabled {
		if ws.URL == "" && ws.Endpoint == "" {
			add("worker_state.endpoint", "url or endpoint is required when enabled")
		}
		if ws.URL != "" {
			if _, err := redisOptions(ws); err != nil {
				add("worker_state.url", "%v", err)
			}
		}
		if !strings.Contains(ws.Key, "{worker_id}") {
			add("worker_state.key", "must contain {worker_id}, got %q", ws.Key)
		}
		if ws.JobField == "" {
			add("worker_state.job_field", "must not be empty")
		}
		if ws.PollInterval < 0 {
			add("worker_state.poll_interval", "must not be negative")
		}
		if ws.PollInterval == 0 && ws.Channel == "" {
			add("worker_state.poll_interval", "0 with an empty channel reads nothing")
		}
		if ws.Timeout <= 0 {
			add("worker_state.timeout", "must be positive, got %s", ws.Timeout)
		}
		if ws.LookupTimeout < 0 {
			add("worker_state.lookup_timeout", "must not be negative")
		}
		re, err := regexp.Compile(ws.InstancePattern)
		if err != nil {
			add("worker_state.instance_pattern", "%v", err)
		} else if err := checkTemplate(ws.WorkerIDTemplate, re.SubexpNames(), []string{"machine_id"}); err != nil {
			add("worker_state.worker_id_template", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// checkTemplate verifies every {name} of tmpl is a group of the pattern or
// an extra name.
func checkTemplate(tmpl string, groups, extra []string) error {
	if tmpl == "" {
		return errors.New("must not be empty")
	}
	for _, m := range placeholderRE.FindAllStringSubmatch(tmpl, -1) {
		ok := false
		for _, g := range append(groups, extra...) {
			if g == m[1] {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("{%s} is neither a named group of the pattern nor one of %v", m[1], extra)
		}
	}
	return nil
}
