package main

// comfyctl rules: list the comfypattern processor's built-in rule catalogue
// (the embedded catalogue.yaml), so operators can see what each rule matches
// and name rules in disabled_rules.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
)

func init() {
	register("rules", "list the built-in rule catalogue of the comfypattern processor", runRules)
}

const rulesUsage = `usage: comfyctl rules [--json] [--examples] [--kinds] [NAME-PREFIX]

Lists the built-in ComfyUI rules in precedence order: name, class, kind and
what the rule looks for (literals, pattern, Go extractor). NAME-PREFIX keeps
the rules whose name starts with it (e.g. failure. or progress.tqdm).

  --examples   also print each rule's examples with their sources
  --kinds      list the failure kinds (retryable, message, call to action)
  --json       the catalogue as JSON (rules, failure_kinds, root_causes)
`

func runRules(args []string) int { return rulesMain(args, os.Stdout, os.Stderr) }

func rulesMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, rulesUsage) }
	asJSON := fs.Bool("json", false, "print JSON")
	examples := fs.Bool("examples", false, "print examples and sources")
	kinds := fs.Bool("kinds", false, "list failure kinds")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "comfyctl rules: at most one NAME-PREFIX")
		return 2
	}
	prefix := fs.Arg(0)
	cat := classifier.BuiltinCatalogue()
	var rules []classifier.RuleConfig
	for _, r := range cat.Rules {
		if strings.HasPrefix(r.Name, prefix) {
			rules = append(rules, r)
		}
	}
	if *asJSON {
		cat.Rules = rules
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(cat); err != nil {
			fmt.Fprintf(stderr, "comfyctl rules: %v\n", err)
			return 1
		}
		return 0
	}
	if *kinds {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tRETRYABLE\tMESSAGE\tCALL TO ACTION")
		for _, k := range cat.FailureKinds {
			fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", k.Kind, k.Retryable, k.Message, k.CallToAction)
		}
		_ = tw.Flush()
		return 0
	}
	if len(rules) == 0 {
		fmt.Fprintf(stderr, "comfyctl rules: no rule name starts with %q\n", prefix)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCLASS\tKIND\tMATCHES")
	for _, r := range rules {
		kind := r.Kind
		if kind == "" {
			kind = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Class, kind, RuleSummary(&r))
		if *examples {
			for _, ex := range r.Examples {
				fmt.Fprintf(tw, "\t\t\t  e.g. %q\n\t\t\t       (%s)\n", clipText(ex.Text, 100), ex.Source)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return 1
	}
	return 0
}

// RuleSummary describes what a rule looks for in one line.
func RuleSummary(r *classifier.RuleConfig) string {
	var parts []string
	if r.Scope != "" && r.Scope != "line" {
		parts = append(parts, "["+r.Scope+"]")
	}
	if r.After != "" {
		parts = append(parts, "[after "+r.After+"]")
	}
	if r.MinSeverity != "" {
		parts = append(parts, "[severity >= "+r.MinSeverity+"]")
	}
	if len(r.Literals) > 0 {
		lits := r.Literals
		more := ""
		if len(lits) > 6 {
			lits, more = lits[:6], fmt.Sprintf(" +%d", len(r.Literals)-6)
		}
		parts = append(parts, fmt.Sprintf("literals %q%s", lits, more))
	}
	if r.Pattern != "" {
		parts = append(parts, "pattern "+clipText(r.Pattern, 60))
	}
	if r.Extract != "" {
		parts = append(parts, "extract "+r.Extract)
	}
	if len(r.Also) > 0 {
		parts = append(parts, fmt.Sprintf("and one of %q", r.Also))
	}
	if len(r.Unless) > 0 {
		parts = append(parts, fmt.Sprintf("unless %q", r.Unless))
	}
	return strings.Join(parts, "; ")
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
