package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRulesListsTheCatalogue(t *testing.T) {
	var out, errb bytes.Buffer
	if code := rulesMain(nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"NAME", "failure.traceback", "progress.tqdm", "extract tqdm", "ignore.skip_module"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	out.Reset()
	if code := rulesMain([]string{"--examples", "failure.argparse"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "unrecognized arguments") || !strings.Contains(out.String(), "github.com/Comfy-Org/ComfyUI/issues/781") {
		t.Errorf("examples with sources missing:\n%s", out.String())
	}
	if strings.Contains(out.String(), "progress.tqdm") {
		t.Error("prefix filter ignored")
	}
	out.Reset()
	if code := rulesMain([]string{"--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var cat struct {
		Rules        []map[string]any `json:"Rules"`
		FailureKinds []map[string]any `json:"FailureKinds"`
	}
	if err := json.Unmarshal(out.Bytes(), &cat); err != nil || len(cat.Rules) < 20 || len(cat.FailureKinds) < 5 {
		t.Errorf("json: %v, %d rules, %d kinds", err, len(cat.Rules), len(cat.FailureKinds))
	}
	out.Reset()
	if code := rulesMain([]string{"--kinds"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "oom") {
		t.Errorf("--kinds: %d %s", code, out.String())
	}
	if code := rulesMain([]string{"nope."}, &out, &errb); code != 1 {
		t.Errorf("unknown prefix: exit %d, want 1", code)
	}
}

func TestClassifyJudgesInOrderAsOneSource(t *testing.T) {
	in := `{"src": "https://example.com/a.log#L1", "text": "Traceback (most recent call last):"}
{"src": "https://example.com/a.log#L2", "text": "        pre_execute_cb=pre_execute_cb)"}
{"src": "https://example.com/b.log#L2", "text": "        pre_execute_cb=pre_execute_cb)"}
{"source": "s", "text": "RuntimeError: CUDA error: device-side assert triggered"}
{"source": "s", "text": "Press any key to continue . . ."}
`
	out, stderr, code := runClassifyTest(t, in, "--input", "jsonl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	vs := decodeVerdicts(t, out)
	classes := []string{}
	for _, v := range vs {
		classes = append(classes, v["class"].(string))
	}
	if got := strings.Join(classes, ","); got != "failure,failure,other,failure,failure" {
		t.Errorf("classes %s", got)
	}
	if f := vs[1]["failure"].(map[string]any); f["continues"] != true || f["kind"] != "exception" {
		t.Errorf("continuation verdict %v", f)
	}
	if f := vs[3]["failure"].(map[string]any); f["retryable"] != true || f["kind"] != "cuda" || f["call_to_action"] == "" {
		t.Errorf("actionable verdict %v", f)
	}

	// plain lines are one source, in order
	out, _, _ = runClassifyTest(t, "torch.OutOfMemoryError: Allocation on device\nCurrently allocated     : 4.68 GiB\n")
	vs = decodeVerdicts(t, out)
	if vs[1]["class"] != "failure" || vs[1]["failure"].(map[string]any)["kind"] != "oom" {
		t.Errorf("OOM detail line: %v", vs[1])
	}
}

func TestClassifyContextNeedsTheNextLine(t *testing.T) {
	// src names lines: a record continues the one before it only when it
	// starts on the next line of the same file.
	in := `{"src": "https://example.com/a.log#L10", "text": "Traceback (most recent call last):"}
{"src": "https://example.com/a.log#L11", "text": "        pre_execute_cb=pre_execute_cb)"}
{"src": "https://example.com/a.log#L12-L14", "text": "RuntimeError: boom"}
{"src": "https://example.com/a.log#L40", "text": "        pre_execute_cb=pre_execute_cb)"}
`
	out, stderr, code := runClassifyTest(t, in, "--input", "jsonl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var classes []string
	for _, v := range decodeVerdicts(t, out) {
		classes = append(classes, v["class"].(string))
	}
	if got := strings.Join(classes, ","); got != "failure,failure,failure,other" {
		t.Errorf("classes %s, want failure,failure,failure,other", got)
	}
	for frag, want := range map[string]lineRange{"L12": {12, 12, true}, "L12-L20": {12, 20, true}, "": {}, "readme": {}, "L1-x": {}} {
		if got := parseLineFragment(frag); got != want {
			t.Errorf("parseLineFragment(%q) = %+v, want %+v", frag, got, want)
		}
	}
}
