package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bodies as the contrib v0.159.0 healthcheckextension writes them
// (internal/healthcheck: legacy healthCheckResponse; httpserver
// serializableStatus with ?verbose).
const (
	legacyReady       = `{"status":"Server available","upSince":"2026-12-02T07:00:00Z","uptime":"3m2.1s"}`
	legacyUnavailable = `{"status":"Server not available","upSince":"0001-01-01T00:00:00Z","uptime":""}`
	v2OK              = `{"start_time":"2026-12-02T07:00:00Z","healthy":true,"status":"StatusOK","status_time":"2026-12-02T07:00:01Z","attributes":{},
 "components":{"extensions":{"healthy":true,"status":"StatusOK","status_time":"2026-12-02T07:00:01Z","attributes":{},
   "components":{"extension:health_check":{"healthy":true,"status":"StatusOK","status_time":"2026-12-02T07:00:01Z","attributes":{}}}},
  "pipeline:logs/failures":{"healthy":true,"status":"StatusOK","status_time":"2026-12-02T07:00:01Z","attributes":{},
   "components":{"exporter:redisrouter/failures":{"healthy":true,"status":"StatusOK","status_time":"2026-12-02T07:00:01Z","attributes":{}}}}}}`
	// Redis unreachable, without component_health settings: the extension
	// still answers 200 and healthy, the exporter reports the error.
	v2Recoverable = `{"start_time":"2026-12-02T07:00:00Z","healthy":true,"status":"StatusRecoverableError","error":"dial tcp 127.0.0.1:1: connect: connection refused","status_time":"2026-12-02T07:00:05Z","attributes":{},
 "components":{"pipeline:logs/failures":{"healthy":true,"status":"StatusRecoverableError","error":"dial tcp 127.0.0.1:1: connect: connection refused","status_time":"2026-12-02T07:00:05Z","attributes":{},
   "components":{"exporter:redisrouter/failures":{"healthy":true,"status":"StatusRecoverableError","error":"dial tcp 127.0.0.1:1: connect: connection refused","status_time":"2026-12-02T07:00:05Z","attributes":{}},
    "receiver:otlp":{"healthy":true,"status":"StatusOK","status_time":"2026-12-02T07:00:01Z","attributes":{}}}},
  "pipeline:logs/progress":{"healthy":true,"status":"StatusOK","status_time":"2026-12-02T07:00:01Z","attributes":{},
   "components":{"receiver:otlp":{"healthy":true,"status":"StatusOK","status_time":"2026-12-02T07:00:01Z","attributes":{}}}}}}`
	// The same with component_health.include_recoverable_errors past its
	// recovery_duration: 500 and healthy false.
	v2Unhealthy = `{"start_time":"2026-12-02T07:00:00Z","healthy":false,"status":"StatusRecoverableError","error":"NOAUTH Authentication required.","status_time":"2026-12-02T07:00:05Z","attributes":{},
 "components":{"pipeline:logs/progress":{"healthy":false,"status":"StatusRecoverableError","error":"NOAUTH Authentication required.","status_time":"2026-12-02T07:00:05Z","attributes":{},
   "components":{"exporter:redisrouter/progress":{"healthy":false,"status":"StatusRecoverableError","error":"NOAUTH Authentication required.\u001b[2J","status_time":"2026-12-02T07:00:05Z","attributes":{}}}}}}`
)

func serve(t *testing.T, code int, body string) string {
	t.Helper()
	var gotQuery string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery = r.URL.RawQuery
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(func() {
		s.Close()
		if gotQuery != "" && !strings.Contains(gotQuery, "verbose") {
			t.Errorf("component details not asked for: query %q", gotQuery)
		}
	})
	return s.URL + "/"
}

func runHealthTest(args ...string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	code = healthMain(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHealthVerdicts(t *testing.T) {
	cases := []struct {
		name     string
		code     int
		body     string
		args     []string
		want     int
		wantText []string
	}{
		{"legacy ready", 200, legacyReady, nil, 0, []string{"healthy:", "Server available, up 3m2.1s"}},
		{"legacy unavailable", 503, legacyUnavailable, nil, 1, []string{"unhealthy:", "503", "Server not available"}},
		{"component status OK", 200, v2OK, nil, 0, []string{"healthy:", "StatusOK"}},
		{"component error, still healthy", 200, v2Recoverable, nil, 0, []string{
			"StatusRecoverableError, 1 component(s) reporting errors",
			"exporter:redisrouter/failures (pipeline:logs/failures): StatusRecoverableError: dial tcp 127.0.0.1:1: connect: connection refused"}},
		{"component error with --strict", 200, v2Recoverable, []string{"--strict"}, 1, []string{"unhealthy:", "exporter:redisrouter/failures"}},
		{"component unhealthy", 500, v2Unhealthy, nil, 1, []string{"unhealthy:", "500",
			`exporter:redisrouter/progress (pipeline:logs/progress): StatusRecoverableError: NOAUTH Authentication required.\x1b[2J [unhealthy]`}},
		// Something else answering 200 on the port is not the collector.
		{"200 with plain text", 200, "OK", nil, 1, []string{"not a health_check response"}},
		{"200 with empty JSON", 200, "{}", nil, 1, []string{"not a health_check response"}},
		{"200 with HTML", 200, "<html><body>It works!</body></html>", nil, 1, []string{"not a health_check response"}},
		{"200 with empty body", 200, "", nil, 1, []string{"not a health_check response"}},
		{"200 with another status", 200, `{"status":"ok"}`, nil, 1, []string{`unknown status "ok"`}},
		{"200 with a healthy flag but unknown status", 200, `{"healthy":true,"status":"up"}`, nil, 1, []string{`unknown status "up"`}},
		{"legacy text with an error code", 500, legacyReady, nil, 1, []string{"answered 500"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := serve(t, c.code, c.body)
			code, out, errOut := runHealthTest(append([]string{"--url", url}, c.args...)...)
			if code != c.want {
				t.Errorf("exit %d, want %d; stdout %q stderr %q", code, c.want, out, errOut)
			}
			text := out + errOut
			for _, w := range c.wantText {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q:\n%s", w, text)
				}
			}
			if strings.ContainsAny(text[:max(len(text)-1, 0)], "\x1b\r") {
				t.Errorf("control characters from the response reached the terminal: %q", text)
			}
			if q, _, _ := runHealthTest(append([]string{"-q", "--url", url}, c.args...)...); q != c.want {
				t.Errorf("-q: exit %d, want %d", q, c.want)
			}
		})
	}
}

func TestHealthUsageAndUnreachable(t *testing.T) {
	if code, _, errOut := runHealthTest("-q", "--url", "http://127.0.0.1:1/", "--timeout", "1s"); code != 1 || errOut != "" {
		t.Errorf("nothing listening: exit %d, stderr %q (want 1, silent)", code, errOut)
	}
	if code, _, errOut := runHealthTest("--url", "ftp://example/"); code != 1 || !strings.Contains(errOut, "not an http(s) URL") {
		t.Errorf("bad scheme: exit %d, %q", code, errOut)
	}
	if code, _, _ := runHealthTest("--nope"); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	if code, _, _ := runHealthTest("extra"); code != 2 {
		t.Errorf("extra argument: exit %d, want 2", code)
	}
}

// TestHealthAgainstCollector asks the real extension, in the built
// distribution, in both of its modes.
func TestHealthAgainstCollector(t *testing.T) {
	bin := os.Getenv("OTELCOL_COMFY_BIN")
	if bin == "" {
		bin, _ = filepath.Abs(filepath.Join("..", "..", "bin", "otelcol-comfy"))
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("collector binary not built (%v): run `make collector` (make test does)", err)
	}
	for _, mode := range []struct {
		name  string
		gates []string
		want  string
	}{
		{"legacy", nil, "Server available"},
		{"component status", []string{"--feature-gates=+extension.healthcheck.useComponentStatus"}, "StatusOK"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			hport, oport := freePort(t), freePort(t)
			cfg := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(cfg, fmt.Appendf(nil, `
extensions:
  health_check:
    endpoint: 127.0.0.1:%d
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
exporters:
  nop:
service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [nop]
`, hport, oport), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cmd := exec.CommandContext(ctx, bin, append([]string{"--config", cfg}, mode.gates...)...)
			var logs syncBuffer
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cancel(); _ = cmd.Wait() })
			url := fmt.Sprintf("http://127.0.0.1:%d/", hport)
			deadline := time.Now().Add(waitLimit)
			for {
				code, out, errOut := runHealthTest("--url", url)
				if code == 0 {
					if !strings.Contains(out, mode.want) {
						t.Errorf("healthy, but not from the %s answer: %q", mode.name, out)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("never healthy: %s%s\ncollector:\n%s", out, errOut, logs.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestHealthRedisUnreachable: the production shape of the health check
// (component status, component_health) with a redisrouter exporter whose
// Redis is not there: comfyctl health says unhealthy and names the
// exporter and the dial error.
func TestHealthRedisUnreachable(t *testing.T) {
	bin := os.Getenv("OTELCOL_COMFY_BIN")
	if bin == "" {
		bin, _ = filepath.Abs(filepath.Join("..", "..", "bin", "otelcol-comfy"))
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("collector binary not built (%v): run `make collector` (make test does)", err)
	}
	hport, oport, dead := freePort(t), freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `
extensions:
  health_check:
    http:
      endpoint: 127.0.0.1:%d
      status:
        enabled: true
        path: /status
    component_health:
      include_permanent_errors: true
      include_recoverable_errors: true
      recovery_duration: 1s
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
exporters:
  redisrouter/failures:
    endpoint: 127.0.0.1:%d
    probe_interval: 1s
service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: none
  pipelines:
    logs/failures:
      receivers: [otlp]
      exporters: [redisrouter/failures]
`, hport, oport, dead), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config", cfg, "--feature-gates=+extension.healthcheck.useComponentStatus")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d/status", hport)
	deadline := time.Now().Add(waitLimit)
	for {
		code, out, errOut := runHealthTest("--url", url)
		text := out + errOut
		if code == 1 && strings.Contains(text, "exporter:redisrouter/failures (pipeline:logs/failures): StatusRecoverableError") &&
			strings.Contains(text, "connection refused") && strings.Contains(text, "[unhealthy]") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reported the exporter's error: exit %d: %s\ncollector:\n%s", code, text, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
