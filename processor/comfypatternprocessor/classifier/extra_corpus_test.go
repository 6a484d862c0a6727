package classifier

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

type extraRecord struct {
	corpusRecord
	Src    string `json:"src"`
	Source string `json:"source"`
}

// TestExtraCorpus: real lines of the categories the shared corpus lacks
// (argparse, shell deaths, launcher and SwarmUI prefixes, Manager/git
// failures, continuation lines, noise that looks like failure or progress),
// each citing its source (testdata/SOURCES.md). Records sharing a "source"
// are judged in order with context, as comfyctl classify does.
func TestExtraCorpus(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "comfyui_extra.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := defaultClassifier(t)
	states := map[string]*SourceState{}
	var s corpusScore
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for n := 1; sc.Scan(); n++ {
		var r extraRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		if r.Src == "" {
			t.Errorf("line %d cites no src", n)
		}
		var st *SourceState
		if r.Source != "" {
			if states[r.Source] == nil {
				states[r.Source] = &SourceState{}
			}
			st = states[r.Source]
		}
		var res Result
		c.ClassifyRecord(&Record{Text: r.Text}, st, &res)
		s.total++
		if string(res.Class) == r.Label {
			s.agree++
		} else {
			t.Errorf("line %d: label %s, got %s (rule %q): %q (%s)", n, r.Label, res.Class, res.Rule, r.Text, r.Src)
		}
		if r.Current != nil || r.Total != nil {
			s.withCounts++
			if eqOpt(r.Current, res.HasCurrent, res.Current) && eqOpt(r.Total, res.HasTotal, res.Total) {
				s.countsRight++
			} else {
				t.Errorf("line %d: counts want %v/%v got %v/%v: %q", n, ptr(r.Current), ptr(r.Total), res.Current, res.Total, r.Text)
			}
		}
	}
	t.Logf("extra corpus: %d/%d agree, counts right %d/%d", s.agree, s.total, s.countsRight, s.withCounts)
}
