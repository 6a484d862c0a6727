package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sentinel is one redis-sentinel process monitoring a master.
type Sentinel struct {
	Port       int
	MasterName string
}

// Addr is host:port of the Sentinel.
func (s *Sentinel) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// StartSentinel starts a Sentinel (redis-server --sentinel, quorum 1) that
// monitors master under masterName, and waits until it reports the master.
// It is stopped when the test ends.
func StartSentinel(tb testing.TB, master *Server, masterName string) *Sentinel {
	tb.Helper()
	dir := tb.TempDir()
	s := &Sentinel{Port: FreePort(tb), MasterName: masterName}
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\nlogfile %s\n"+
		"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 5000\n",
		s.Port, dir, filepath.Join(dir, "sentinel.log"), masterName, master.Port, masterName)
	path := filepath.Join(dir, "sentinel.conf") // Sentinel rewrites its config: it must be writable
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("redis-server", path, "--sentinel")
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start sentinel: %v", err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond); err == nil {
			c.Close()
			out, _ := exec.CommandContext(ctx, "redis-cli", "-p", strconv.Itoa(s.Port),
				"SENTINEL", "get-master-addr-by-name", masterName).CombinedOutput()
			if strings.Contains(string(out), strconv.Itoa(master.Port)) {
				return s
			}
		}
		if ctx.Err() != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
			tb.Fatalf("sentinel on %s did not come up: %s", s.Addr(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
