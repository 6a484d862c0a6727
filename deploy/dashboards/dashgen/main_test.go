package main

import (
	"os"
	"strings"
	"testing"
)

func TestCommittedFilesAreGenerated(t *testing.T) {
	files, err := render()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s differs from what dashgen generates: run `go run . generate`", name)
		}
	}
}

// The Grafana check is strict: a misspelt or unknown key, a wrong type or
// a broken panel fails it.
func TestGrafanaValidationCatches(t *testing.T) {
	raw, err := os.ReadFile(grafanaFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := validateGrafana(raw); err != nil {
		t.Fatalf("the committed dashboard fails: %v", err)
	}
	for _, c := range []struct{ name, from, to, want string }{
		{"misspelt panel key", `"title": "Received, by receiver (/s)"`, `"titel": "Received, by receiver (/s)"`, "titel"},
		{"unknown dashboard key", `"uid": "otelcol-comfy"`, `"uid": "otelcol-comfy", "refreshh": "1m"`, "refreshh"},
		{"wrong type", `"schemaVersion": 42`, `"schemaVersion": "42"`, "schemaVersion"},
		{"unknown panel option", `"showLegend": true`, `"showLegend": true, "legendSize": 3`, "legendSize"},
	} {
		s := string(raw)
		if !strings.Contains(s, c.from) {
			t.Fatalf("%s: dashboard has no %q", c.name, c.from)
		}
		err := validateGrafana([]byte(strings.Replace(s, c.from, c.to, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %s", c.name, err, c.want)
		}
	}
}

// Every panel has at least one query and every tier selects its exporter.
func TestEveryTierSelectsItsExporter(t *testing.T) {
	for _, r := range rows() {
		for _, p := range r.panels {
			if len(p.queries) == 0 {
				t.Errorf("%s has no query", p.id)
			}
			for _, tr := range tiers {
				if strings.HasPrefix(p.id, tr.key+"_") {
					for _, q := range p.queries {
						if !strings.Contains(q.expr, tr.selector) {
							t.Errorf("%s: %s lacks %s", p.id, q.expr, tr.selector)
						}
					}
				}
			}
		}
	}
}
