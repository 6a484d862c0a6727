package classifier

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

type corpusRecord struct {
	Text    string   `json:"text"`
	Label   string   `json:"label"`
	Current *float64 `json:"current"`
	Total   *float64 `json:"total"`
	Percent *float64 `json:"percent"`
	Note    string   `json:"note"`
}

func corpusDir() string {
	if d := os.Getenv("CORPUS_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "..", "shared", "corpus")
}

func loadCorpus(t testing.TB) []corpusRecord {
	t.Helper()
	recs, err := readCorpus()
	// A quality gate that skips when its data is gone passes silently;
	// a missing corpus is a broken checkout, so fail and say how to fix it.
	if os.IsNotExist(err) {
		t.Fatalf("labelled corpus missing: %v\n(the quality gate needs ../shared/corpus/comfyui_lines.jsonl beside the repository, or CORPUS_DIR=/path/to/corpus)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		t.Fatalf("labelled corpus %s is empty", filepath.Join(corpusDir(), "comfyui_lines.jsonl"))
	}
	return recs
}

func readCorpus() ([]corpusRecord, error) {
	path := filepath.Join(corpusDir(), "comfyui_lines.jsonl")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []corpusRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		var r corpusRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// CorpusScore is the agreement of a classifier with the labelled corpus.
type corpusScore struct {
	total, agree, missedFailures, withCounts, countsRight int
}

func scoreCorpus(t testing.TB, c *Classifier, recs []corpusRecord, verbose bool) corpusScore {
	var s corpusScore
	for i, r := range recs {
		res := c.Classify(r.Text)
		s.total++
		if string(res.Class) == r.Label {
			s.agree++
		} else if verbose {
			t.Logf("#%d label=%s got=%s rule=%s: %q (%s)", i, r.Label, res.Class, res.Rule, trunc(r.Text, 200), r.Note)
		}
		if r.Label == "failure" && res.Class != ClassFailure {
			s.missedFailures++
		}
		if r.Current != nil || r.Total != nil {
			s.withCounts++
			ok := eqOpt(r.Current, res.HasCurrent, res.Current) && eqOpt(r.Total, res.HasTotal, res.Total)
			if ok {
				s.countsRight++
			} else if verbose {
				t.Logf("#%d counts want %v/%v got %v(%v)/%v(%v): %q", i, ptr(r.Current), ptr(r.Total), res.Current, res.HasCurrent, res.Total, res.HasTotal, trunc(r.Text, 200))
			}
		}
	}
	return s
}

func eqOpt(want *float64, has bool, got float64) bool {
	if want == nil {
		return true // the label does not carry it
	}
	return has && math.Abs(*want-got) < 1e-9
}

func ptr(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func TestCorpusQuality(t *testing.T) {
	recs := loadCorpus(t)
	c, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	s := scoreCorpus(t, c, recs, true)
	agreement := float64(s.agree) / float64(s.total)
	counts := float64(s.countsRight) / float64(s.withCounts)
	t.Logf("agreement %d/%d = %.1f%%, missed failures %d, current/total right %d/%d = %.1f%%",
		s.agree, s.total, 100*agreement, s.missedFailures, s.countsRight, s.withCounts, 100*counts)
	if agreement < 0.99 {
		t.Errorf("label agreement %.1f%% < 99%%", 100*agreement)
	}
	if s.missedFailures > 1 {
		t.Errorf("missed %d failures (max 1)", s.missedFailures)
	}
	if counts < 0.95 {
		t.Errorf("current/total right on %.1f%% < 95%%", 100*counts)
	}
}
