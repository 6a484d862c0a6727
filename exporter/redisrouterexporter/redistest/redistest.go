// Package redistest starts real redis-server processes for tests: on a free
// loopback port, in a temporary directory, stoppable and restartable on the
// same port so tests can simulate an outage. Real Redis, not miniredis: the
// exporter uses XADD MAXLEN ~, which miniredis rejects.
//
// It is a normal (non-_test) package so the exporter, comfyctl and the
// end-to-end tests share one implementation.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one redis-server process.
type Server struct {
	Port int
	Dir  string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	tb   testing.TB
	// TLS is set for servers from StartTLS: Port then is the TLS port.
	TLS *TLSFiles
}

// Option adds redis-server arguments.
type Option func(*[]string)

// WithArgs passes raw redis-server arguments, e.g. "--requirepass", "s3cret".
func WithArgs(a ...string) Option { return func(args *[]string) { *args = append(*args, a...) } }

// WithPassword sets requirepass (the default user's password).
func WithPassword(pw string) Option { return WithArgs("--requirepass", pw) }

// FreePort returns a TCP port that is free on 127.0.0.1 now, from 20000 to
// 32767, and never the same one twice in a process. Not a kernel-chosen
// port (listen on :0): those come from the ephemeral range (32768-60999 on
// Linux), where any outgoing connection of the test, the sidecar or Redis
// may take it as its source port before the server binds it ("bind: address
// already in use", seen in make bench).
func FreePort(tb testing.TB) int {
	tb.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	if portNext == 0 {
		// Processes that run tests in parallel start at different places.
		portNext = portLow + rand.IntN(portHigh-portLow)
	}
	for range portHigh - portLow {
		p := portNext
		if portNext++; portNext > portHigh {
			portNext = portLow
		}
		if portHanded[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		_ = l.Close()
		portHanded[p] = true
		return p
	}
	tb.Fatalf("free port: none left in %d-%d", portLow, portHigh)
	return 0
}

const portLow, portHigh = 20000, 32767

var (
	portMu     sync.Mutex
	portNext   int
	portHanded = map[int]bool{}
)

// Available reports whether redis-server is installed; tests call
// RequireServer, which fails (not skips) when it is missing: CI installs it.
func Available() bool { _, err := exec.LookPath("redis-server"); return err == nil }

// Start launches redis-server on a free port and stops it when the test ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	return startOnPort(tb, FreePort(tb), opts...)
}

// StartOnPort is Start on a given port: a test can point a client at a port
// first and bring Redis up there later (Redis down at start).
func StartOnPort(tb testing.TB, port int, opts ...Option) *Server {
	tb.Helper()
	return startOnPort(tb, port, opts...)
}

func startOnPort(tb testing.TB, port int, opts ...Option) *Server {
	tb.Helper()
	if !Available() {
		tb.Fatal("redis-server not found on PATH (apt-get install redis-server)")
	}
	s := &Server{Port: port, Dir: tb.TempDir(), tb: tb}
	for _, o := range opts {
		o(&s.args)
	}
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is redis://127.0.0.1:port (rediss:// for a server from StartTLS).
func (s *Server) URL() string {
	if s.TLS != nil {
		return "rediss://" + s.Addr()
	}
	return "redis://" + s.Addr()
}

// WithACLUser adds an ACL user with a password. Without rules the user may
// run every command on every key and channel (~* &* +@all); pass rules to
// restrict it, e.g. "~job:*", "&machine:*", "+xadd", "+publish", "+ping".
func WithACLUser(name, password string, rules ...string) Option {
	if len(rules) == 0 {
		rules = []string{"~*", "&*", "+@all"}
	}
	return WithArgs(append([]string{"--user", name, "on", ">" + password}, rules...)...)
}

// Start (re)starts the process on the same port and waits until it accepts
// connections. Data is not persisted across restarts unless the caller asked
// for it with WithArgs("--appendonly", "yes").
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	args := []string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--dir", s.Dir, "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--protected-mode", "no", "--logfile", filepath.Join(s.Dir, "redis.log"),
	}
	args = append(args, s.args...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return fmt.Errorf("redis-server on %s did not come up: %s", s.Addr(), log)
}

// Stop kills the process (SIGKILL: an outage, not a graceful shutdown) and
// waits until the port is closed.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Cmd runs redis-cli against the server and returns its trimmed output;
// handy for asserting with the same tool an operator would use.
func (s *Server) Cmd(ctx context.Context, extra []string, args ...string) (string, error) {
	a := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}
	if s.TLS != nil {
		a = append(a, "--tls", "--cacert", s.TLS.CAFile)
	}
	a = append(a, extra...)
	a = append(a, args...)
	out, err := exec.CommandContext(ctx, "redis-cli", a...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// LogTail returns the last lines of the server log, for failure messages.
func (s *Server) LogTail() string {
	f, err := os.Open(filepath.Join(s.Dir, "redis.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 20 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
