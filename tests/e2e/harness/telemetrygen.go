package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// TelemetrygenVersion is the load generator the reliability suite uses.
const TelemetrygenVersion = "v0.160.0"

var telemetrygenOnce sync.Mutex

// Telemetrygen returns the telemetrygen binary: $TELEMETRYGEN_BIN, or
// bin/telemetrygen in the repository, installed there with `go install` on
// first use (no Makefile step needed; CI's fresh clone does it once).
func Telemetrygen(tb testing.TB) string {
	tb.Helper()
	if b := os.Getenv("TELEMETRYGEN_BIN"); b != "" {
		return b
	}
	telemetrygenOnce.Lock()
	defer telemetrygenOnce.Unlock()
	bin := filepath.Join(RepoRoot(tb), "bin")
	path := filepath.Join(bin, "telemetrygen")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	cmd := exec.Command("go", "install", "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@"+TelemetrygenVersion)
	// Outside our workspace: telemetrygen's own go.mod decides its deps.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go install telemetrygen@%s: %v\n%s", TelemetrygenVersion, err, out)
	}
	return path
}

// RunTelemetrygen runs `telemetrygen logs` with args and returns its output.
func RunTelemetrygen(ctx context.Context, tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	cmd := exec.CommandContext(ctx, Telemetrygen(tb), append([]string{"logs"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
