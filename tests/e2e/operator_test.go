package e2e

// Issue 13's safe defaults, against the built binary: with the PM2
// ecosystem's environment (no address overridden), OTLP, health and metrics
// listen on loopback only; and a sender's machine.id never chooses a Redis
// key.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// pm2Env is the environment deploy/ecosystem.config.js gives the sidecar,
// evaluated by node the way PM2 would.
func pm2Env(t *testing.T) (map[string]string, []string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed to evaluate deploy/ecosystem.config.js (apt-get install nodejs): %v", err)
	}
	script := `const a = require(process.argv[1]).apps.find(a => a.name === "otelcol-comfy"); console.log(JSON.stringify({env: a.env, args: a.args}));`
	cmd := exec.Command(node, "-e", script, filepath.Join(harness.RepoRoot(t), "deploy", "ecosystem.config.js"))
	cmd.Env = append(os.Environ(), "OTELCOL_COMFY_ENV_FILE=/nonexistent", "TELEMETRY_TARGET=disabled")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ecosystem.config.js: %v", err)
	}
	var app struct {
		Env  map[string]string `json:"env"`
		Args []string          `json:"args"`
	}
	if err := json.Unmarshal(out, &app); err != nil {
		t.Fatal(err)
	}
	return app.Env, app.Args
}

// listeners returns the local addresses pid listens on (TCP, IPv4 and IPv6).
func listeners(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "0A" || !inodes[fs[9]] { // 0A = LISTEN
				continue
			}
			out = append(out, hexAddr(fs[1]))
		}
		fh.Close()
	}
	return out
}

// hexAddr decodes /proc/net/tcp's "0100007F:10E1" form.
func hexAddr(s string) string {
	host, port, _ := strings.Cut(s, ":")
	p, _ := strconv.ParseUint(port, 16, 16)
	b := make([]byte, len(host)/2)
	for i := range b {
		v, _ := strconv.ParseUint(host[2*i:2*i+2], 16, 8)
		b[i] = byte(v)
	}
	// /proc stores each 32-bit word in host (little-endian) order.
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.JoinHostPort(net.IP(b).String(), strconv.FormatUint(p, 10))
}

func TestPM2DefaultsListenOnLoopbackOnly(t *testing.T) {
	for _, port := range []int{4317, 4318, 13133, 8888, 1777} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond); err == nil {
			c.Close()
			t.Fatalf("port %d is in use on this machine: the test starts the sidecar on its default ports; stop what listens there", port)
		}
	}
	env, args := pm2Env(t)
	dir := t.TempDir()
	env["MACHINE_ID"] = "pm2-defaults"
	env["COMFYUI_LOG_DIR"] = filepath.Join(dir, "logs")
	env["COMFYUI_OUTPUT_LOG_DIR"] = filepath.Join(dir, "logs")
	env["OTELCOL_STORAGE_DIR"] = filepath.Join(dir, "state")
	env["TELEMETRY_TARGET"] = "disabled"
	// The config files from this repository in place of /etc/otelcol-comfy.
	var configs []string
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--config" {
			configs = append(configs, strings.Replace(args[i+1], "/etc/otelcol-comfy", filepath.Join(harness.RepoRoot(t), "configs"), 1))
		}
	}
	var gates []string
	for _, a := range args {
		if strings.HasPrefix(a, "--feature-gates=") {
			gates = append(gates, a)
		}
	}
	if len(configs) != 2 || len(gates) != 1 {
		t.Fatalf("ecosystem.config.js args: %q", args)
	}
	// Nothing of the test harness's own: only what PM2 passes.
	for _, k := range []string{"OTLP_GRPC_ENDPOINT", "OTLP_HTTP_ENDPOINT", "OTELCOL_HEALTH_CHECK_ENDPOINT", "OTELCOL_METRICS_HOST", "OTELCOL_METRICS_PORT", "OTELCOL_PPROF_ENDPOINT"} {
		if _, ok := env[k]; ok {
			t.Fatalf("ecosystem.config.js sets %s: the test is about the defaults", k)
		}
	}
	p := harness.NewProcess(t, harness.ProcessOptions{Name: "sidecar-pm2", ConfigPaths: configs, Env: env, HealthPort: 13133, HealthPath: "/status", Dir: dir, Args: gates})
	p.StartHealthy(startTimeout)
	ls := listeners(t, p.PID())
	if len(ls) < 4 {
		t.Fatalf("found only %d listening sockets: %v", len(ls), ls)
	}
	for _, l := range ls {
		host, _, _ := net.SplitHostPort(l)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			t.Errorf("the sidecar listens on %s with the PM2 defaults: only loopback is allowed", l)
		}
	}
	t.Logf("listening: %v", ls)
}

func TestSenderMachineIDNeverChoosesAKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := newStack(t, stackOptions{machineID: "the-real-machine", instances: []string{"gpu0"}})
	st.sidecar.StartHealthy(startTimeout)
	raw, err := harness.NewRawOTLP(st.sidecar.OTLPEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	uid := uidFor()
	res := comfyResource("gpu0")
	res["machine.id"] = "victim-machine"
	recs := []harness.RawRecord{
		{Body: "got prompt", Attrs: map[string]string{"machine.id": "victim-2", harness.IDAttr: uid + "-p"}},
		{Body: tracebackText(uid + "-f"), Attrs: map[string]string{"machine.id": "victim-3", harness.IDAttr: uid + "-f"}},
	}
	if code, err := raw.SendRecords(ctx, recs, res); code != codes.OK {
		t.Fatal(err)
	}
	err = harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func() error {
		es, err := st.streams.Read(ctx, "machine:*", "job:events:*")
		if err != nil {
			return err
		}
		if harness.CountContaining(es, uid+"-f") == 0 {
			return fmt.Errorf("failure not streamed yet")
		}
		for _, e := range es {
			if strings.Contains(e.Stream, "victim") || fmt.Sprint(e.Values["machine_id"]) != "the-real-machine" {
				return fmt.Errorf("a sender's machine.id reached Redis: stream %s machine_id %v", e.Stream, e.Values["machine_id"])
			}
		}
		n := 0
		for _, m := range st.sub.Messages() {
			if strings.Contains(m.Channel, "victim") {
				return fmt.Errorf("progress published on %s", m.Channel)
			}
			if m.Channel == "machine:the-real-machine:progress" {
				n++
			}
		}
		if n == 0 {
			return fmt.Errorf("no progress on the sidecar's own channel yet")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	keys, _ := st.streams.Client().Keys(ctx, "*victim*").Result()
	if len(keys) > 0 {
		t.Errorf("keys named after a sender's machine.id: %v", keys)
	}
}
