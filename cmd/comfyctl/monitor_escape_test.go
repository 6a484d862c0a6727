package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

// Hostile values as a sender that reaches OTLP could set them: a line
// break that would start a fake line, a carriage return that would rewrite
// the operator's line, a screen clear, a window-title OSC, a C1 CSI, DEL,
// a bidi override and a byte that is not UTF-8.
const (
	evilJob      = "job-1\r\nFAKE  everything is fine\x1b[2J"
	evilMachine  = "m1\x1b]0;pwned\x07"
	evilMessage  = "50%\u009b31m red\x7f \u202eevil"
	evilInstance = "gpu0\xff"
)

func TestEscapeControls(t *testing.T) {
	for in, want := range map[string]string{
		"plain job-1 ✓ ünï":  "plain job-1 ✓ ünï",
		"a\r\nb":             `a\r\nb`,
		"\x1b[31mred\x1b[0m": `\x1b[31mred\x1b[0m`,
		"tab\there":          `tab\there`,
		"bell\a del\x7f":     `bell\a del\x7f`,
		"c1 \u009b csi":      `c1 \u009b csi`,
		"bidi \u202e x":      `bidi \u202e x`,
		"ls \u2028 ps":       `ls \u2028 ps`,
		"bad \xff byte":      `bad \xff byte`,
		`C:\path\kept`:       `C:\path\kept`,
		"nul\x00":            `nul\x00`,
	} {
		if got := escapeControls(in); got != want {
			t.Errorf("escapeControls(%q) = %q, want %q", in, got, want)
		}
	}
	j := jsonEscapeControls([]byte("{\"a\":\"x\x7fy\u0085z\u00e9\"}"))
	if string(j) != `{"a":"x\u007fy\u0085zé"}` {
		t.Errorf("jsonEscapeControls: %s", j)
	}
	var v map[string]string
	if err := json.Unmarshal(j, &v); err != nil || v["a"] != "x\x7fy\u0085zé" {
		t.Errorf("escaped JSON must decode to the same value: %v %q", err, v["a"])
	}
}

// safeForTerminal reports the first byte or rune a terminal would act on,
// other than the line ends between lines.
func safeForTerminal(s string) (bad string, ok bool) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\n':
		case r == utf8.RuneError && size == 1,
			r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f, r >= 0x202a && r <= 0x202e:
			return s[max(i-10, 0):min(i+10, len(s))], false
		}
		i += size
	}
	return "", true
}

func publishEvil(t *testing.T, srv *redistest.Server) {
	t.Helper()
	rdb := newClient(t, srv)
	waitSubscribers(t, rdb, "")
	p := sampling(evilMachine, evilJob, 10, 20, time.Now())
	p.Instance = evilInstance
	p.Message, p.Progress.Message = evilMessage, evilMessage
	publish(t, rdb, p)
	f := failure(evilMachine, evilJob, "e1")
	f.Instance = evilInstance
	f.ExceptionMessage = "CUDA out of memory\r\x1b[1A\x1b[2K memory \u009b31m\x7f \u202e!"
	f.Message = "Traceback (most recent call last):\r\n  File \"x.py\", line 1\x1b[8m hidden\r\n" +
		"torch.OutOfMemoryError: boom\x1b[0m"
	// The stream key holds the job id too (job:events:{job_id}).
	xadd(t, rdb, fillTemplate(payload.DefaultFailureStream, "job_id", evilJob), f)
}

// TestMonitorBinaryEscapesControls runs the built comfyctl, piped, against
// a real redis-server holding a progress message and a failure whose ids,
// messages, stream name and traceback carry control characters: each event
// stays on its lines, with the characters shown as escapes.
func TestMonitorBinaryEscapesControls(t *testing.T) {
	bin := comfyctlBinary(t)
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "monitor", "all", "--traceback", "--count", "2", "--scan-interval", "100ms", "-v")
	cmd.Env = append(os.Environ(), "REDIS_URL="+srv.URL())
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	publishEvil(t, srv)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("comfyctl monitor: %v; stdout %q stderr %q", err, out.String(), errOut.String())
	}
	for name, s := range map[string]string{"stdout": out.String(), "stderr": errOut.String()} {
		if bad, ok := safeForTerminal(s); !ok {
			t.Errorf("%s has a raw control character near %q:\n%q", name, bad, s)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	// One progress line, one failure line and its three traceback lines.
	if len(lines) != 5 {
		t.Fatalf("want 5 lines (progress, failure, 3 traceback), got %d:\n%s", len(lines), out.String())
	}
	var prog, fail string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "progress"):
			prog = l
		case strings.HasPrefix(l, "failure"):
			fail = l
		}
	}
	for _, want := range []string{`m1\x1b]0;pwned\a/gpu0`, `job-1\r\nFAKE  everything is fine\x1b[2J`} {
		if !strings.Contains(prog, want) {
			t.Errorf("progress line lacks %q: %q", want, prog)
		}
	}
	for _, want := range []string{`m1\x1b]0;pwned\a/gpu0\xff`, `job-1\r\nFAKE  everything is fine\x1b[2J`, `CUDA out of memory\r\x1b[1A\x1b[2K memory \u009b31m\x7f \u202e!`} {
		if !strings.Contains(fail, want) {
			t.Errorf("failure line lacks %q: %q", want, fail)
		}
	}
	if !strings.Contains(out.String(), `    | torch.OutOfMemoryError: boom\x1b[0m`) ||
		!strings.Contains(out.String(), `\x1b[8m hidden`) {
		t.Errorf("traceback lines not escaped:\n%s", out.String())
	}
	// -v names the stream it follows: escaped on stderr too.
	if !strings.Contains(errOut.String(), `job:events:job-1\r\nFAKE`) {
		t.Errorf("stream name not shown escaped on stderr: %q", errOut.String())
	}
}

// TestMonitorTerminalEscapesControls: the same values in terminal mode,
// where the monitor writes its own escapes for colours and bars, but none
// of the ones the values carry.
func TestMonitorTerminalEscapesControls(t *testing.T) {
	srv := redistest.Start(t)
	m := startMonitor(t, terminal{isTTY: true, width: func() int { return 300 }},
		"all", "--url", srv.URL(), "--traceback", "--scan-interval", "100ms")
	publishEvil(t, srv)
	out := waitFor(t, "both events", m.out, func(s string) bool {
		return strings.Contains(s, "FAILURE") && strings.Contains(s, "10/20")
	})
	for _, raw := range []string{"\r", "\x1b[2J", "\x1b]0;", "\x07", "\x1b[1A", "\x1b[2K", "\x1b[8m", "\x7f", "\u009b", "\u202e", "\xff"} {
		if strings.Contains(out, raw) {
			t.Errorf("raw %q from Redis reached the terminal:\n%q", raw, out)
		}
	}
	for _, want := range []string{`job-1\r\nFAKE  everything is fine\x1b[2J`, `m1\x1b]0;pwned\a`, `\x1b[8m hidden`, `memory \u009b31m\x7f \u202e!`} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks escaped %q:\n%q", want, out)
		}
	}
}

// TestMonitorJSONEscapesControls: --json keeps the values exact (they
// decode back) while no raw control byte is written.
func TestMonitorJSONEscapesControls(t *testing.T) {
	srv := redistest.Start(t)
	m := startMonitor(t, piped, "all", "--url", srv.URL(), "--json", "--count", "2", "--scan-interval", "100ms")
	publishEvil(t, srv)
	if code := m.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, m.err)
	}
	s := m.out.String()
	if bad, ok := safeForTerminal(s); !ok {
		t.Errorf("raw control character near %q in --json output", bad)
	}
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		var ev struct {
			JobID     string `json:"job_id"`
			MachineID string `json:"machine_id"`
			Message   string `json:"message"`
			Tier      string `json:"tier"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if ev.JobID != evilJob || ev.MachineID != evilMachine {
			t.Errorf("%s: ids not kept exactly: %q %q", ev.Tier, ev.JobID, ev.MachineID)
		}
		if ev.Tier == "progress" && ev.Message != evilMessage {
			t.Errorf("progress message not kept exactly: %q", ev.Message)
		}
	}
}

// TestMonitorBinaryOnTerminalEscapesControls runs the built comfyctl on a
// real pseudo-terminal (util-linux script(1)), so it draws its live
// display: none of the sequences the values carry reach the terminal.
func TestMonitorBinaryOnTerminalEscapesControls(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) not installed (util-linux)")
	}
	bin := comfyctlBinary(t)
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	inner := bin + " monitor all --traceback --count 2 --scan-interval 100ms --url " + srv.URL()
	cmd := exec.CommandContext(ctx, scriptBin, "-q", "-e", "-c", inner, "/dev/null")
	cmd.Env = append(os.Environ(), "TERM=xterm", "COLUMNS=200", "LINES=50")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	publishEvil(t, srv)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("comfyctl monitor on a terminal: %v; output %q", err, out.String())
	}
	s := out.String()
	if !strings.Contains(s, "\x1b[?25l") {
		t.Fatalf("not in terminal mode (no cursor hiding): %q", s)
	}
	for _, raw := range []string{"\x1b[2J", "\x1b]0;", "\x07", "\x1b[1A", "\x1b[2K", "\x1b[8m", "\x7f", "\u009b", "\u202e", "\xff"} {
		if strings.Contains(s, raw) {
			t.Errorf("raw %q from Redis reached the terminal:\n%q", raw, s)
		}
	}
	// The terminal turns each line end into \r\n; a \r anywhere else would
	// be the job id's.
	if strings.Contains(strings.ReplaceAll(s, "\r\n", "\n"), "\r") {
		t.Errorf("a bare carriage return reached the terminal:\n%q", s)
	}
	for _, want := range []string{`job-1\r\nFAKE  everything is fine\x1b[2J`, `m1\x1b]0;pwned\a`} {
		if !strings.Contains(s, want) {
			t.Errorf("terminal output lacks escaped %q:\n%q", want, s)
		}
	}
}
