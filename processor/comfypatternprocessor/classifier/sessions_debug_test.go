package classifier

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDumpSessions prints the verdict for every session line when
// COMFY_DUMP_SESSIONS is set (a tool for eyeballing unseen output).
func TestDumpSessions(t *testing.T) {
	out := os.Getenv("COMFY_DUMP_SESSIONS")
	if out == "" {
		t.Skip("set COMFY_DUMP_SESSIONS=FILE to dump verdicts")
	}
	files, _ := filepath.Glob(filepath.Join(corpusDir(), "sessions", "*.log"))
	c, _ := New(DefaultOptions())
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range files {
		b, _ := os.ReadFile(p)
		for _, line := range strings.Split(string(b), "\n") {
			r := c.Classify(line)
			fmt.Fprintf(f, "%s\t%s\t%s\t%v/%v %v\t%q\n", r.Class, r.Rule, r.ProgressKind+r.FailureKind, r.Current, r.Total, r.Percent, line)
		}
	}
}
