package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// comfyctlBinary builds this tree's comfyctl once per test run (rather than
// using bin/comfyctl, which may be stale when tests run without make).
func comfyctlBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "comfyctl-test-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "comfyctl")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = &buildError{err, out}
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return builtBin
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// helpRef is a repository path, optionally with a Markdown anchor, as help
// texts write them: README.md#what-it-shows, configs/sidecar.yaml. Not
// part of a URL (no "://" before it).
var helpRef = regexp.MustCompile(`(^|[^A-Za-z0-9_./:-])((?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*\.(?:md|yaml|yml|json|sh|js|example))\b(#[A-Za-z0-9_-]+)?`)

// TestHelpReferencesExist runs `comfyctl -h` and `comfyctl <cmd> -h` for
// every registered command with the built binary, and checks that every
// file and README section they point to exists in the repository.
func TestHelpReferencesExist(t *testing.T) {
	bin := comfyctlBinary(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{""}
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	total := 0
	for _, n := range names {
		args := []string{"-h"}
		if n != "" {
			args = []string{n, "-h"}
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("comfyctl %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		refs := helpRef.FindAllStringSubmatch(string(out), -1)
		if n == "monitor" && len(refs) == 0 {
			t.Errorf("comfyctl monitor -h names no documentation:\n%s", out)
		}
		for _, m := range refs {
			total++
			path, anchor := m[2], strings.TrimPrefix(m[3], "#")
			full := filepath.Join(root, filepath.FromSlash(path))
			if _, err := os.Stat(full); err != nil {
				t.Errorf("comfyctl %s refers to %s, which does not exist in the repository", strings.Join(args, " "), path)
				continue
			}
			if anchor == "" {
				continue
			}
			anchors, err := markdownAnchors(full)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if !anchors[anchor] {
				t.Errorf("comfyctl %s refers to %s#%s: no such section (sections: %s)",
					strings.Join(args, " "), path, anchor, strings.Join(sortedKeys(anchors), ", "))
			}
		}
	}
	t.Logf("%d references checked", total)
}

// markdownAnchors returns the anchors GitHub gives a file's headings:
// lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats.
func markdownAnchors(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	anchors := map[string]bool{}
	seen := map[string]int{}
	fence := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fence = !fence
			continue
		}
		if fence || !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(l, "#"))
		if h == "" || !strings.HasPrefix(l, strings.Repeat("#", len(l)-len(strings.TrimLeft(l, "#")))+" ") {
			continue
		}
		s := githubSlug(h)
		if k := seen[s]; k > 0 {
			anchors[s+"-"+itoa(k)] = true
		} else {
			anchors[s] = true
		}
		seen[s]++
	}
	return anchors, sc.Err()
}

func githubSlug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestGithubSlug(t *testing.T) {
	for h, want := range map[string]string{
		"Watching Redis live: `comfyctl monitor`": "watching-redis-live-comfyctl-monitor",
		"Connection, outages and reconnection":    "connection-outages-and-reconnection",
		"What it shows":                           "what-it-shows",
	} {
		if got := githubSlug(h); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", h, got, want)
		}
	}
}

// The pattern finds what help texts write, including the reference this
// test was written for (docs/comfyctl-monitor.md never existed), and
// leaves URLs alone.
func TestHelpRefPattern(t *testing.T) {
	text := "one JSON object per event (keys in docs/comfyctl-monitor.md)\n" +
		"Documentation: README.md#what-it-shows; see configs/sidecar.yaml.\n" +
		"default \"http://127.0.0.1:13133/health.json\", events.jsonl, extensions.health_check"
	var got []string
	for _, m := range helpRef.FindAllStringSubmatch(text, -1) {
		got = append(got, m[2]+m[3])
	}
	want := "docs/comfyctl-monitor.md README.md#what-it-shows configs/sidecar.yaml"
	if strings.Join(got, " ") != want {
		t.Errorf("references %q, want %q", got, want)
	}
}
