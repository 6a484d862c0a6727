package classifier

import (
	"strings"
	"testing"
)

// Every catalogue example is a test: the rule that names it must decide it
// (after its prev record from the same source, for continuation rules).
func TestCatalogueExamples(t *testing.T) {
	c := defaultClassifier(t)
	cat := BuiltinCatalogue()
	for _, r := range cat.Rules {
		if len(r.Examples) == 0 && r.Extract != "exception_attributes" && r.MinSeverity == "" {
			t.Errorf("%s: no example", r.Name)
		}
		for _, ex := range r.Examples {
			if strings.TrimSpace(ex.Source) == "" {
				t.Errorf("%s: example %q cites no source", r.Name, ex.Text)
			}
			var st SourceState
			var res Result
			if ex.Prev != "" {
				c.ClassifyRecord(&Record{Text: ex.Prev}, &st, &res)
				if res.Class != ClassFailure {
					t.Errorf("%s: prev %q is %s, want failure", r.Name, ex.Prev, res.Class)
				}
			}
			c.ClassifyRecord(&Record{Text: ex.Text}, &st, &res)
			if res.Rule != r.Name || string(res.Class) != r.Class {
				t.Errorf("%s: %q decided by %q (%s), want this rule (%s)", r.Name, ex.Text, res.Rule, res.Class, r.Class)
			}
			if ex.Prev != "" && !res.Continues {
				t.Errorf("%s: %q does not continue %q", r.Name, ex.Text, ex.Prev)
			}
		}
	}
}

func TestCatalogueKindsAreActionable(t *testing.T) {
	cat := BuiltinCatalogue()
	for _, k := range cat.FailureKinds {
		if k.Message == "" || k.CallToAction == "" {
			t.Errorf("kind %s: message and call_to_action are required", k.Kind)
		}
	}
	c := defaultClassifier(t)
	r := c.Classify("!!! Exception during processing !!! CUDA out of memory. Tried to allocate 20.00 MiB")
	if r.FailureKind != "oom" || !r.HasRetryable || !r.Retryable || r.HumanMessage == "" || r.CallToAction == "" {
		t.Errorf("banner with an OOM message: kind %q retryable %v/%v message %q cta %q", r.FailureKind, r.Retryable, r.HasRetryable, r.HumanMessage, r.CallToAction)
	}
	r = c.Classify("main.py: error: unrecognized arguments: --foo")
	if r.FailureKind != "startup" || r.Retryable || !r.HasRetryable {
		t.Errorf("argparse: kind %q retryable %v (the rule says not retryable)", r.FailureKind, r.Retryable)
	}
}

func TestCatalogueRejectsBadRules(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, err string }{
		"unknown field":     {"rules:\n  - name: a\n    class: failure\n    kind: crash\n    literalz: [x]\n", "field literalz not found"},
		"unknown extractor": {"failure_kinds: [{kind: crash}]\nrules:\n  - name: a\n    class: failure\n    kind: crash\n    extract: nope\n", `rules[0] (a).extract: unknown extractor "nope"`},
		"kind not listed":   {"rules:\n  - name: a\n    class: failure\n    kind: crash\n    literals: [x]\n", `rules[0] (a).kind: "crash" is not in failure_kinds`},
		"duplicate":         {"failure_kinds: [{kind: crash}]\nrules:\n  - {name: a, class: failure, kind: crash, literals: [x]}\n  - {name: a, class: failure, kind: crash, literals: [y]}\n", "duplicate"},
		"wrong class":       {"failure_kinds: [{kind: crash}]\nrules:\n  - {name: a, class: failure, kind: crash, extract: tqdm}\n", "is for progress rules"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := compileCatalogue([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestBoundedCost(t *testing.T) {
	c := defaultClassifier(t)
	big := "Traceback (most recent call last):\n" + strings.Repeat("  File \"x.py\", line 1, in f\n    y()\n", 200000) + "torch.OutOfMemoryError: CUDA out of memory."
	r := c.Classify(big)
	if r.Class != ClassFailure || r.FailureKind != "oom" || r.ExceptionType != "torch.OutOfMemoryError" {
		t.Errorf("5 MB traceback: %s %s %q", r.Class, r.FailureKind, r.ExceptionType)
	}
	if len(r.Message) > 2*boundHalf+1 {
		t.Errorf("message of %d bytes: only the first and last 64 KiB are looked at", len(r.Message))
	}
}

func TestTrackerIsBounded(t *testing.T) {
	tr := NewTracker(0, 0, 3)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		tr.State(k, 0)
	}
	if tr.Len() != 3 {
		t.Errorf("%d sources kept, want 3", tr.Len())
	}
	st := tr.State("x", 1)
	st.prevFailure = true
	if tr.State("x", 1+int64(20e9)).prevFailure {
		t.Error("a source silent for longer than the window starts afresh")
	}
}

func TestNoiseTracebackLineByLine(t *testing.T) {
	c := defaultClassifier(t)
	var st SourceState
	lines := []struct {
		text, class string
	}{
		{"[2024-06-03 10:02] Exception in callback _ProactorBasePipeTransport._call_connection_lost(None)", "other"},
		{"[2024-06-03 10:02] handle: <Handle _ProactorBasePipeTransport._call_connection_lost(None)>", "other"},
		{"[2024-06-03 10:02] Traceback (most recent call last):", "other"},
		{`[2024-06-03 10:02]   File "asyncio\events.py", line 80, in _run`, "other"},
		{"[2024-06-03 10:02]     self._context.run(self._callback, *self._args)", "other"},
		{"[2024-06-03 10:02] ConnectionResetError: [WinError 10054] An existing connection was forcibly closed by the remote host", "other"},
		{"[2024-06-03 10:03] got prompt", "progress"},
		{"[2024-06-03 10:03] Traceback (most recent call last):", "failure"},
	}
	for _, l := range lines {
		var res Result
		c.ClassifyRecord(&Record{Text: l.text}, &st, &res)
		if string(res.Class) != l.class {
			t.Errorf("%q: %s (rule %q), want %s", l.text, res.Class, res.Rule, l.class)
		}
	}
}
