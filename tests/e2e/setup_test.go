package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// stack is one full test environment: Redis with a progress subscriber and a
// stream reader, the Dash0 stand-in, and the sidecar (not yet started).
type stack struct {
	redis   *redistest.Server
	sub     *harness.Subscriber
	streams *harness.Streams
	dash0   *harness.Dash0
	sidecar *harness.Sidecar
}

type stackOptions struct {
	machineID string
	instances []string
	env       map[string]string
	config    string
	noDash0   bool
	dash0TLS  bool
	redisOpts []redistest.Option
	// overlays are merged over the production configs (benchmarks vary one
	// setting).
	overlays []string
}

func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	s := &stack{redis: redistest.Start(t, o.redisOpts...)}
	s.sub = harness.Subscribe(t, s.redis)
	s.streams = harness.NewStreams(t, s.redis)
	if !o.noDash0 {
		s.dash0 = harness.StartDash0(t, harness.Dash0Options{TLS: o.dash0TLS})
	}
	s.sidecar = harness.NewSidecar(t, harness.SidecarOptions{
		MachineID: o.machineID, Redis: s.redis, Dash0: s.dash0, Instances: o.instances, Env: o.env, Config: o.config,
		Overlays: o.overlays,
	})
	return s
}

const startTimeout = 60 * time.Second

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// normalize makes a log line comparable with what the pipeline keeps: ANSI
// escapes and \r removed, the last \r state of a tqdm line, spaces trimmed.
func normalize(line string) string {
	line = strings.TrimRight(line, "\r\n")
	if i := strings.LastIndex(strings.TrimRight(line, "\r "), "\r"); i >= 0 {
		line = line[i+1:]
	}
	line = ansiRE.ReplaceAllString(line, "")
	line = strings.ReplaceAll(line, "\r", "")
	return strings.TrimSpace(line)
}

// tsPrefixRE is ComfyUI's per-line timestamp prefix, "[2024-05-31 15:05] "
// (with or without seconds and milliseconds).
var tsPrefixRE = regexp.MustCompile(`^\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?\]\s?`)

func stripTS(line string) string { return tsPrefixRE.ReplaceAllString(line, "") }
