package comfypatternprocessor

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
)

//go:generate env UPDATE_README=1 go test -run TestReadmeListsTheCatalogue .

const (
	beginCatalogue = "<!-- BEGIN catalogue (generated from classifier/catalogue.yaml by `go generate`; TestReadmeListsTheCatalogue checks it) -->"
	endCatalogue   = "<!-- END catalogue -->"
)

// catalogueMarkdown renders the built-in rules and failure kinds from the
// catalogue itself, so the README cannot drift from the code.
func catalogueMarkdown() string {
	cat := classifier.BuiltinCatalogue()
	var b strings.Builder
	b.WriteString("| name | class | kind | looks for | example (source) |\n|---|---|---|---|---|\n")
	cell := func(s string) string {
		s = strings.ReplaceAll(s, "|", `\|`)
		s = strings.ReplaceAll(s, "\n", " ")
		s = strings.ReplaceAll(s, "\r", `\r`)
		s = strings.ReplaceAll(s, "\x1b", `\e`)
		return s
	}
	code := func(s string) string {
		if s == "" {
			return ""
		}
		return "`` " + cell(s) + " ``"
	}
	for _, r := range cat.Rules {
		var what []string
		if r.Scope != "" && r.Scope != "line" {
			what = append(what, "scope "+r.Scope)
		}
		if r.After != "" {
			what = append(what, "after a "+r.After)
		}
		if r.MinSeverity != "" {
			what = append(what, "severity ≥ "+r.MinSeverity)
		}
		if len(r.Literals) > 0 {
			q := make([]string, len(r.Literals))
			for i, l := range r.Literals {
				q[i] = code(l)
			}
			what = append(what, "literals "+strings.Join(q, ", "))
		}
		if r.Pattern != "" {
			what = append(what, "pattern "+code(r.Pattern))
		}
		if r.Extract != "" {
			what = append(what, "extract `"+r.Extract+"`")
		}
		if len(r.Also) > 0 {
			q := make([]string, len(r.Also))
			for i, l := range r.Also {
				q[i] = code(l)
			}
			what = append(what, "and one of "+strings.Join(q, ", "))
		}
		if len(r.Unless) > 0 {
			q := make([]string, len(r.Unless))
			for i, l := range r.Unless {
				q[i] = code(l)
			}
			what = append(what, "unless "+strings.Join(q, ", "))
		}
		if r.Event != "" {
			what = append(what, "event `"+r.Event+"`")
		}
		ex := ""
		if len(r.Examples) > 0 {
			e := r.Examples[0]
			t := e.Text
			if len(t) > 90 {
				t = t[:90] + "…"
			}
			ex = code(t) + " (" + cell(e.Source) + ")"
		}
		kind := r.Kind
		if kind == "" && r.After != "" {
			kind = "(of the failure continued)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.Name, r.Class, kind, strings.Join(what, "; "), ex)
	}
	b.WriteString("\nFailure kinds (`comfy.failure.retryable`, `.human_message`, `.call_to_action`):\n\n| kind | retryable | human message | call to action |\n|---|---|---|---|\n")
	for _, k := range cat.FailureKinds {
		fmt.Fprintf(&b, "| `%s` | %v | %s | %s |\n", k.Kind, k.Retryable, cell(k.Message), cell(k.CallToAction))
	}
	b.WriteString("\nRoot causes (the kind follows the cause, checked in order over the whole failure text):\n\n")
	for _, rc := range cat.RootCauses {
		from := "any kind"
		if len(rc.From) > 0 {
			from = strings.Join(rc.From, ", ")
		}
		q := make([]string, len(rc.Literals))
		for i, l := range rc.Literals {
			q[i] = code(l)
		}
		fmt.Fprintf(&b, "- `%s` (from %s): %s\n", rc.Kind, from, strings.Join(q, ", "))
	}
	b.WriteString("\nExtractors a rule can name in `extract:`:\n\n")
	for _, n := range classifier.ExtractorNames() {
		class, doc, _ := classifier.ExtractorDoc(n)
		fmt.Fprintf(&b, "- `%s` (%s): %s\n", n, class, doc)
	}
	return b.String()
}

func TestReadmeListsTheCatalogue(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, beginCatalogue)
	j := strings.Index(readme, endCatalogue)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the catalogue markers %q ... %q", beginCatalogue, endCatalogue)
	}
	want := catalogueMarkdown()
	got := readme[i+len(beginCatalogue)+1 : j]
	if got == want {
		return
	}
	if os.Getenv("UPDATE_README") != "" {
		readme = readme[:i+len(beginCatalogue)+1] + want + readme[j:]
		if err := os.WriteFile("README.md", []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's rule table differs from classifier/catalogue.yaml: run `go generate` in processor/comfypatternprocessor")
}
