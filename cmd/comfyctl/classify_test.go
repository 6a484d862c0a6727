package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runClassifyTest(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = classifyMain(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func decodeVerdicts(t *testing.T, out string) []map[string]any {
	t.Helper()
	var vs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("bad output line %q: %v", line, err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestClassifyLines(t *testing.T) {
	in := "[2024-06-17 13:22] got prompt\r\n" +
		"[2024-06-17 13:22] \r100%|██████████| 22/22 [00:01<00:00, 15.16it/s]\r\n" +
		"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n" +
		"Starting server\n" +
		"FETCH ComfyRegistry Data: 25/92" // no final newline
	out, stderr, code := runClassifyTest(t, in)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{
		`{"class":"progress","rule":"progress.lifecycle","progress":{"current":null,"total":null,"percent":null,"kind":"lifecycle"},"failure":null}`,
		`{"class":"progress","rule":"progress.tqdm","progress":{"current":22,"total":22,"percent":100,"kind":"sampling"},"failure":null}`,
		`{"class":"failure","rule":"failure.exception_line","progress":null,"failure":{"kind":"oom","exception_type":"torch.OutOfMemoryError","exception_message":"CUDA out of memory. Tried to allocate 2.00 GiB","continues":false,"retryable":true,"human_message":"The GPU (or the machine) ran out of memory while running the workflow.","call_to_action":"Retry on a GPU with more free memory, or lower the resolution, batch size or frame count."}}`,
		`{"class":"other","rule":null,"progress":null,"failure":null}`,
		`{"class":"progress","rule":"progress.fetch","progress":{"current":25,"total":92,"percent":27.17391304347826,"kind":"fetch"},"failure":null}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, lines[i], want[i])
		}
	}
	for _, s := range []string{"5 records", "progress", "failure", "other", "lifecycle 1"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("summary lacks %q:\n%s", s, stderr)
		}
	}
}

func TestClassifyJSONL(t *testing.T) {
	tb := `{"text": "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: bad value", "label": "failure"}`
	in := tb + "\n" +
		"\n" + // blank lines are skipped
		"{not json}\n" +
		`{"label": "other"}` + "\n" +
		`{"text": 42}` + "\n" +
		`{"text": "got prompt"}` + "\r\n"
	out, stderr, code := runClassifyTest(t, in, "--input", "jsonl")
	if code != 1 {
		t.Errorf("exit %d, want 1 for unreadable lines", code)
	}
	vs := decodeVerdicts(t, out)
	if len(vs) != 2 {
		t.Fatalf("got %d verdicts, want 2:\n%s", len(vs), out)
	}
	fail := vs[0]["failure"].(map[string]any)
	if vs[0]["class"] != "failure" || fail["exception_type"] != "ValueError" || fail["exception_message"] != "bad value" {
		t.Errorf("traceback verdict: %v", vs[0])
	}
	if vs[1]["class"] != "progress" {
		t.Errorf("second verdict: %v", vs[1])
	}
	for _, s := range []string{"stdin line 3: not a JSON object", `stdin line 4: no "text" field`, `stdin line 5: "text" is not a string`, "unreadable input lines: 3"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClassifyConfig(t *testing.T) {
	t.Setenv("COMFY_TEST_KIND", "upscale")
	cfg := writeConfig(t, `
receivers:
  otlp: {}
processors:
  batch: {}
  comfypattern/zz_first:
    disabled_rules: [progress.lifecycle]
    rules:
      - name: tiles
        class: progress
        kind: ${env:COMFY_TEST_KIND}
        pattern: 'tile (?P<current>\d+) of (?P<total>\d+)'
    ignore:
      - name: probe
        pattern: 'probe'
  comfypattern/aa_second:
    builtin_rules: false
`)
	out, stderr, code := runClassifyTest(t, "tile 2 of 8\ngot prompt\nprobe: CUDA out of memory\nTraceback (most recent call last):\n", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	vs := decodeVerdicts(t, out)
	if p := vs[0]["progress"].(map[string]any); vs[0]["rule"] != "tiles" || p["kind"] != "upscale" || p["current"] != 2.0 || p["total"] != 8.0 {
		t.Errorf("user rule (first comfypattern/NAME in file order, env expanded): %v", vs[0])
	}
	if vs[1]["class"] != "other" {
		t.Errorf("disabled lifecycle rule still matched: %v", vs[1])
	}
	if vs[2]["class"] != "other" || vs[2]["rule"] != "probe" {
		t.Errorf("ignore rule: %v", vs[2])
	}
	if vs[3]["class"] != "failure" {
		t.Errorf("built-ins should be on: %v", vs[3])
	}
	if !strings.Contains(stderr, "processors::comfypattern/zz_first") {
		t.Errorf("summary should name the config source:\n%s", stderr)
	}

	// The plain "comfypattern" id wins over named ones.
	cfg = writeConfig(t, "processors:\n  comfypattern/a:\n    builtin_rules: false\n  comfypattern:\n    builtin_rules: true\n")
	out, _, _ = runClassifyTest(t, "got prompt\n", "--config", cfg)
	if vs := decodeVerdicts(t, out); vs[0]["class"] != "progress" {
		t.Errorf("processors.comfypattern not preferred: %v", vs[0])
	}

	// No comfypattern processor: defaults.
	cfg = writeConfig(t, "processors:\n  batch: {}\n")
	out, stderr, _ = runClassifyTest(t, "got prompt\n", "--config", cfg)
	if vs := decodeVerdicts(t, out); vs[0]["class"] != "progress" || !strings.Contains(stderr, "defaults") {
		t.Errorf("defaults expected: %v %s", vs[0], stderr)
	}
}

func TestClassifyBadInvocation(t *testing.T) {
	cfg := writeConfig(t, "processors:\n  comfypattern:\n    rules:\n      - name: x\n        class: failure\n        pattern: '('\n")
	_, stderr, code := runClassifyTest(t, "", "--config", cfg)
	if code != 2 || !strings.Contains(stderr, "rules[0].pattern: error parsing regexp") {
		t.Errorf("bad regex: exit %d, stderr %s", code, stderr)
	}
	_, stderr, code = runClassifyTest(t, "", "--input", "csv")
	if code != 2 || !strings.Contains(stderr, "--input must be lines or jsonl") {
		t.Errorf("bad input: exit %d, stderr %s", code, stderr)
	}
	_, _, code = runClassifyTest(t, "", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 2 {
		t.Errorf("missing config: exit %d", code)
	}
	cfg = writeConfig(t, "processors:\n  comfypattern:\n    no_such_option: 1\n")
	_, stderr, code = runClassifyTest(t, "", "--config", cfg)
	if code != 2 || !strings.Contains(stderr, "no_such_option") {
		t.Errorf("unknown key: exit %d, stderr %s", code, stderr)
	}
}

// The shared corpus through the command, as operators run it.
func TestClassifyCorpusAgreement(t *testing.T) {
	dir := os.Getenv("CORPUS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	in, err := os.ReadFile(filepath.Join(dir, "comfyui_lines.jsonl"))
	if err != nil {
		// A quality gate must not pass by skipping: a missing corpus is a broken checkout.
		t.Fatalf("labelled corpus missing: %v\n(needs ../shared/corpus/comfyui_lines.jsonl beside the repository, or CORPUS_DIR=/path/to/corpus)", err)
	}
	out, stderr, code := runClassifyTest(t, string(in), "--input", "jsonl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	vs := decodeVerdicts(t, out)
	var labels []string
	for _, line := range strings.Split(strings.TrimSpace(string(in)), "\n") {
		var r struct{ Label string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		labels = append(labels, r.Label)
	}
	if len(vs) != len(labels) {
		t.Fatalf("%d verdicts for %d records", len(vs), len(labels))
	}
	agree := 0
	for i := range vs {
		if vs[i]["class"] == labels[i] {
			agree++
		}
	}
	if float64(agree) < 0.97*float64(len(labels)) {
		t.Errorf("agreement %d/%d below 97%%", agree, len(labels))
	}
}
