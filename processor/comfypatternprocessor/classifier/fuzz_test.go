package classifier

import (
	"strings"
	"testing"
)

// FuzzClassify: any bytes (invalid UTF-8, stray escapes, CRs, huge numbers)
// must classify without panicking, and a result must not change when the
// pooled cleaning buffer is reused by the next record. The seed corpus runs
// as a normal test; `go test -fuzz FuzzClassify` explores further.
func FuzzClassify(f *testing.F) {
	seeds := []string{
		"",
		"\r",
		"\x1b",
		"\x1b[",
		"\x1b]0;title",
		"\x1b[31m\r\n\r",
		"[2024-06-17 13:15]",
		"[2024-06-17 13:15] ",
		"[2025-07-07 08:50:45.927] \r0it [00:00, ?it/s][2025-07-07 08:47:14.834] FETCH ComfyRegistry Data: 60/91",
		"100%|",
		"%|%|%|",
		" 45%|████▌     | 9/20 [00:02<00:03,  3.50it/s]",
		"99999999999999999999999999%|█| 1e400/2e400 [99:99:99<, 1e999s/it]",
		"5/ [",
		"1/0",
		"0it [",
		"1k [00:",
		"Traceback (most recent call last):\n\xff\xfe\n  File \"x\", line 1, in y\nValueError: \xc3\x28",
		"\xff\xfe\xfd Killed",
		"* (prompt):",
		"* :",
		"Error",
		"raise ",
		"File \"",
		"ERROR:root:",
		"ERROR:",
		"Start infer 99999999999999999999999 images",
		"FETCH ComfyRegistry Data: 5/",
		strings.Repeat("[2024-06-17 13:15] ", 50),
		strings.Repeat("\r100%|███| 2", 40),
	}
	for _, r := range loadCorpusOrNil() {
		seeds = append(seeds, r.Text)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	c, err := New(Options{BuiltinRules: true, Rules: []RuleConfig{{Name: "u", Class: "progress", Pattern: `(?P<current>\d+)\s*of\s*(?P<total>\d+)`}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		r := c.Classify(text)
		switch r.Class {
		case ClassProgress, ClassFailure, ClassOther:
		default:
			t.Fatalf("bad class %q", r.Class)
		}
		msg, typ, stack := strings.Clone(r.Message), strings.Clone(r.ExceptionType), strings.Clone(r.Stacktrace)
		c.Classify("\x1b[31m" + strings.Repeat("overwrite the pooled buffer ", 8) + "\r\n")
		if r.Message != msg || r.ExceptionType != typ || r.Stacktrace != stack {
			t.Fatalf("result aliases the reused buffer")
		}
	})
}

// loadCorpusOrNil returns the labelled corpus if available (fuzz seeds).
func loadCorpusOrNil() []corpusRecord {
	recs, _ := readCorpus()
	return recs
}
