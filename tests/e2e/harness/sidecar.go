package harness

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

// Sidecar is otelcol-comfy running configs/sidecar.yaml, with every port,
// path and target taken from the environment the test sets.
type Sidecar struct {
	*Process
	MachineID  string
	LogDir     string
	StorageDir string
	OTLPGRPC   int
	OTLPHTTP   int
	Metrics    int
	Pprof      int
	Redis      *redistest.Server
	Dash0      *Dash0
	Token      string
	Dataset    string
}

// SidecarArgs are the command-line flags the sidecar runs with in
// production (Dockerfile CMD, deploy/ecosystem.config.js, docker-compose.yml,
// scripts/demo.sh, scripts/run-local.sh; scripts/validate-configs.sh checks
// they agree). stanza.synchronousLogEmitter hands each tailed line to the
// pipeline as it is read instead of through a 100 ms batching buffer: it
// removes up to 100 ms of progress latency, and the buffer is where a kill -9
// could lose lines whose offsets were already committed.
// extension.healthcheck.useComponentStatus makes the health endpoint report
// each component's status (a Redis exporter that cannot reach Redis).
var SidecarArgs = []string{"--feature-gates=stanza.synchronousLogEmitter,extension.healthcheck.useComponentStatus"}

// SidecarOptions configure NewSidecar.
type SidecarOptions struct {
	MachineID string
	Redis     *redistest.Server
	Dash0     *Dash0
	// Config overrides configs/sidecar.yaml (benchmarks compare configs).
	Config string
	// Overlays are merged after the base and backend configs (test-only
	// settings, e.g. another file_log layout).
	Overlays []string
	// Env entries override the defaults computed here.
	Env map[string]string
	// Instances get empty out/error log files before the sidecar starts, so
	// file_log reads them from offset 0 whatever its start_at.
	Instances []string
}

// NewSidecar prepares the production sidecar (not started: call
// StartHealthy). Its log dir and storage dir are test temp dirs; its storage
// dir survives restarts within the test.
func NewSidecar(tb testing.TB, o SidecarOptions) *Sidecar {
	tb.Helper()
	dir := tb.TempDir()
	s := &Sidecar{
		MachineID: o.MachineID, LogDir: filepath.Join(dir, "logs"), StorageDir: filepath.Join(dir, "storage"),
		OTLPGRPC: redistest.FreePort(tb), OTLPHTTP: redistest.FreePort(tb), Metrics: redistest.FreePort(tb),
		Pprof: redistest.FreePort(tb), Redis: o.Redis, Dash0: o.Dash0, Token: "test-token-" + strconv.FormatInt(time.Now().UnixNano(), 36), Dataset: "e2e",
	}
	if s.MachineID == "" {
		s.MachineID = "machine-e2e"
	}
	for _, d := range []string{s.LogDir, s.StorageDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	for _, inst := range o.Instances {
		for _, kind := range []string{"out", "error"} {
			if err := os.WriteFile(s.LogPath(inst, kind), nil, 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
	health := redistest.FreePort(tb)
	env := SidecarEnv(s, health)
	for k, v := range o.Env {
		env[k] = v
	}
	configs := []string{o.Config}
	if o.Config == "" {
		configs = SidecarConfigs(tb, env["TELEMETRY_TARGET"], s.Dash0 != nil && s.Dash0.CAFile == "")
	}
	configs = append(configs, o.Overlays...)
	s.Process = NewProcess(tb, ProcessOptions{Name: "sidecar", ConfigPaths: configs, Env: env, HealthPort: health, HealthPath: "/status", Dir: dir, Args: SidecarArgs})
	return s
}

// SidecarEnv is the environment configs/sidecar.yaml reads (its header and
// deploy/otelcol-comfy.env.example list the variables). Every address is a
// free loopback port, every path a test directory, so the test never meets
// a developer's running sidecar on the default ports.
func SidecarEnv(s *Sidecar, healthPort int) map[string]string {
	loop := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	env := map[string]string{
		"MACHINE_ID":                    s.MachineID,
		"TELEMETRY_TARGET":              "disabled",
		"COMFYUI_LOG_DIR":               s.LogDir,
		"COMFYUI_OUTPUT_LOG_DIR":        s.LogDir,
		"OTELCOL_STORAGE_DIR":           s.StorageDir,
		"OTLP_GRPC_ENDPOINT":            loop(s.OTLPGRPC),
		"OTLP_HTTP_ENDPOINT":            loop(s.OTLPHTTP),
		"OTELCOL_HEALTH_CHECK_ENDPOINT": loop(healthPort),
		"OTELCOL_PPROF_ENDPOINT":        loop(s.Pprof),
		"OTELCOL_METRICS_HOST":          "127.0.0.1",
		"OTELCOL_METRICS_PORT":          strconv.Itoa(s.Metrics),
		// A developer's REDIS_URL must not leak into the test.
		"REDIS_URL": "",
	}
	if s.Redis != nil {
		env["REDIS_HOST"] = "127.0.0.1"
		env["REDIS_PORT"] = strconv.Itoa(s.Redis.Port)
	}
	if s.Dash0 != nil {
		env["TELEMETRY_TARGET"] = "dash0"
		env["DASH0_ENDPOINT"] = s.Dash0.Endpoint()
		env["DASH0_AUTH_TOKEN"] = s.Token
		env["DASH0_DATASET"] = s.Dataset
		if s.Dash0.CAFile != "" {
			// TLS as in production: Go reads extra roots from
			// SSL_CERT_FILE, so the sidecar trusts the stand-in's
			// self-signed certificate like a public CA's.
			env["SSL_CERT_FILE"] = s.Dash0.CAFile
		}
	}
	return env
}

// OTLPEndpoint is host:port of the sidecar's OTLP gRPC receiver.
func (s *Sidecar) OTLPEndpoint() string { return "127.0.0.1:" + strconv.Itoa(s.OTLPGRPC) }

// LogPath is the PM2-style log file of a ComfyUI instance: kind out or error.
func (s *Sidecar) LogPath(instance, kind string) string {
	return filepath.Join(s.LogDir, "comfyui-"+instance+"-"+kind+".log")
}

// DiskUsage is the size in bytes of everything under the storage dir.
func (s *Sidecar) DiskUsage() int64 { return DirSize(s.StorageDir) }

// DirSize sums file sizes under dir.
func DirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}
