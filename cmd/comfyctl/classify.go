package main

// comfyctl classify: run the comfypattern processor's classifier (the very
// same code, package classifier) over log lines from stdin, so operators can
// try rules on their own logs before deploying them.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor"
	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
)

func init() {
	register("classify", "classify log records (stdin) as progress/failure/other, one JSON verdict per record", runClassify)
}

const classifyUsage = `usage: comfyctl classify [--config FILE] [--input lines|jsonl] < records

Reads records from standard input and writes one JSON verdict per record to
standard output, in input order:

  {"class": "progress"|"failure"|"other", "rule": NAME|null,
   "progress": {"current": N|null, "total": N|null, "percent": X|null, "kind": K}|null,
   "failure": {"kind": K, "exception_type": T|null, "exception_message": M|null,
               "continues": B, "retryable": B|null, "human_message": S,
               "call_to_action": S}|null}

A per-class summary goes to standard error.

The input is read in order as the output of one source: a record is judged
with the records before it (a traceback's source lines, an OOM's details,
"Press any key" after a death continue the failure before them, and get
"continues": true). A JSONL record may name its source ("source", else
"src" without its #fragment); records of different sources do not mix, and
when src names lines (#L12, #L12-L20) a record is judged with the one
before it only when it starts on the next line.

  --input lines   one record per line (default); CRLF line ends are tolerated
  --input jsonl   one JSON object per line; its "text" string is one record
                  (it may hold newlines, e.g. a whole traceback). Blank lines
                  are skipped. A line that is not such an object is reported
                  on stderr with its line number, produces no output, and the
                  run goes on; the exit status is then 1.
  --config FILE   a collector config: the settings of its comfypattern
                  processor (processors.comfypattern, else the first
                  processors.comfypattern/NAME) are used, ${env:VAR} and
                  ${VAR} expanded, with the rules of its rules_file.
                  Without it, the processor's defaults.

Exit status: 0 all records classified; 1 some input lines could not be read;
2 bad flags or config.
`

func runClassify(args []string) int {
	return classifyMain(args, os.Stdin, os.Stdout, os.Stderr)
}

// verdict is the JSON shape written per record (documented in the usage).
type verdict struct {
	Class    string           `json:"class"`
	Rule     *string          `json:"rule"`
	Progress *progressVerdict `json:"progress"`
	Failure  *failureVerdict  `json:"failure"`
}

type progressVerdict struct {
	Current *float64 `json:"current"`
	Total   *float64 `json:"total"`
	Percent *float64 `json:"percent"`
	Kind    string   `json:"kind"`
}

type failureVerdict struct {
	Kind             string  `json:"kind"`
	ExceptionType    *string `json:"exception_type"`
	ExceptionMessage *string `json:"exception_message"`
	Continues        bool    `json:"continues"`
	Retryable        *bool   `json:"retryable"`
	HumanMessage     string  `json:"human_message,omitempty"`
	CallToAction     string  `json:"call_to_action,omitempty"`
}

func classifyMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, classifyUsage) }
	configPath := fs.String("config", "", "collector config file holding a comfypattern processor")
	input := fs.String("input", "lines", "input format: lines or jsonl")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "comfyctl classify: unexpected argument %q (records are read from stdin)\n", fs.Arg(0))
		return 2
	}
	if *input != "lines" && *input != "jsonl" {
		fmt.Fprintf(stderr, "comfyctl classify: --input must be lines or jsonl, got %q\n", *input)
		return 2
	}
	opts := classifier.DefaultOptions()
	source := "built-in defaults"
	if *configPath != "" {
		var err error
		opts, source, err = loadClassifierOptions(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "comfyctl classify: %v\n", err)
			return 2
		}
	}
	c, err := classifier.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "comfyctl classify: %s: %v\n", source, err)
		return 2
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	var (
		perClass = map[string]int{}
		perKind  = map[string]int{}
		records  int
		bad      int
	)
	tracker := classifier.NewTracker(0, 0, 0)
	lastLine := map[string]int{}
	emit := func(text, src string, lines lineRange) {
		var res classifier.Result
		st := tracker.State(src, 0)
		if lines.ok {
			// A record judged with the one before it only when it is the
			// next line of the same file (a sample of lines is not a log).
			if prev, seen := lastLine[src]; seen && lines.start != prev+1 {
				st.Reset()
			}
			lastLine[src] = lines.end
		}
		c.ClassifyRecord(&classifier.Record{Text: text}, st, &res)
		records++
		perClass[string(res.Class)]++
		if k := kindOfResult(&res); k != "" {
			perKind[string(res.Class)+"/"+k]++
		}
		if err := enc.Encode(toVerdict(&res)); err != nil {
			fmt.Fprintf(stderr, "comfyctl classify: writing output: %v\n", err)
		}
	}

	r := bufio.NewReaderSize(stdin, 1<<16)
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadString('\n')
		if len(line) > 0 || err == nil {
			line = strings.TrimSuffix(line, "\n")
			line = strings.TrimSuffix(line, "\r")
			switch *input {
			case "lines":
				emit(line, "", lineRange{})
			case "jsonl":
				if strings.TrimSpace(line) == "" {
					break
				}
				text, src, lines, perr := jsonlText(line)
				if perr != nil {
					bad++
					fmt.Fprintf(stderr, "comfyctl classify: stdin line %d: %v\n", lineNo, perr)
					break
				}
				emit(text, src, lines)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(stderr, "comfyctl classify: reading stdin: %v\n", err)
			out.Flush()
			return 1
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "comfyctl classify: writing output: %v\n", err)
		return 1
	}
	printSummary(stderr, source, records, bad, perClass, perKind)
	if bad > 0 {
		return 1
	}
	return 0
}

// lineRange is the lines of a file a JSONL record came from (from a "#L12"
// or "#L12-L20" fragment of its src).
type lineRange struct {
	start, end int
	ok         bool
}

// jsonlText returns a JSONL record's text and its source: "source", else
// "src" without its #fragment (the lines of one file), else "", plus the
// line range the src fragment names.
func jsonlText(line string) (text, source string, lines lineRange, err error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		return "", "", lineRange{}, fmt.Errorf("not a JSON object: %v", err)
	}
	raw, ok := obj["text"]
	if !ok {
		return "", "", lineRange{}, errors.New(`no "text" field`)
	}
	if err := json.Unmarshal(raw, &text); err != nil {
		return "", "", lineRange{}, fmt.Errorf(`"text" is not a string: %s`, clipForError(string(raw), 40))
	}
	var src string
	if v, ok := obj["src"]; ok {
		_ = json.Unmarshal(v, &src)
	}
	file, frag, _ := strings.Cut(src, "#")
	lines = parseLineFragment(frag)
	if v, ok := obj["source"]; ok && json.Unmarshal(v, &source) == nil && source != "" {
		return text, source, lines, nil
	}
	return text, file, lines, nil
}

// parseLineFragment reads GitHub's "L12" / "L12-L20" line anchors.
func parseLineFragment(frag string) lineRange {
	a, b, ranged := strings.Cut(frag, "-")
	num := func(s string) (int, bool) {
		s, ok := strings.CutPrefix(s, "L")
		if !ok {
			return 0, false
		}
		n, err := strconv.Atoi(s)
		return n, err == nil
	}
	start, ok := num(a)
	if !ok {
		return lineRange{}
	}
	end := start
	if ranged {
		if end, ok = num(b); !ok {
			return lineRange{}
		}
	}
	return lineRange{start: start, end: end, ok: true}
}

func clipForError(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func kindOfResult(r *classifier.Result) string {
	switch r.Class {
	case classifier.ClassProgress:
		return r.ProgressKind
	case classifier.ClassFailure:
		return r.FailureKind
	}
	return ""
}

func toVerdict(r *classifier.Result) verdict {
	v := verdict{Class: string(r.Class)}
	if r.Rule != "" {
		rule := r.Rule
		v.Rule = &rule
	}
	num := func(has bool, x float64) *float64 {
		if !has {
			return nil
		}
		return &x
	}
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	switch r.Class {
	case classifier.ClassProgress:
		v.Progress = &progressVerdict{
			Current: num(r.HasCurrent, r.Current),
			Total:   num(r.HasTotal, r.Total),
			Percent: num(r.HasPercent, r.Percent),
			Kind:    r.ProgressKind,
		}
	case classifier.ClassFailure:
		v.Failure = &failureVerdict{
			Kind:             r.FailureKind,
			ExceptionType:    str(r.ExceptionType),
			ExceptionMessage: str(r.ExceptionMessage),
			Continues:        r.Continues,
			HumanMessage:     r.HumanMessage,
			CallToAction:     r.CallToAction,
		}
		if r.HasRetryable {
			retry := r.Retryable
			v.Failure.Retryable = &retry
		}
	}
	return v
}

func printSummary(w io.Writer, source string, records, bad int, perClass, perKind map[string]int) {
	fmt.Fprintf(w, "comfyctl classify: %d records (rules: %s)\n", records, source)
	for _, class := range []string{"progress", "failure", "other"} {
		n := perClass[class]
		pct := 0.0
		if records > 0 {
			pct = 100 * float64(n) / float64(records)
		}
		var kinds []string
		for k, c := range perKind {
			if rest, ok := strings.CutPrefix(k, class+"/"); ok {
				kinds = append(kinds, fmt.Sprintf("%s %d", rest, c))
			}
		}
		sort.Strings(kinds)
		line := fmt.Sprintf("  %-8s %6d  %5.1f%%", class, n, pct)
		if len(kinds) > 0 {
			line += "  (" + strings.Join(kinds, ", ") + ")"
		}
		fmt.Fprintln(w, line)
	}
	if bad > 0 {
		fmt.Fprintf(w, "  unreadable input lines: %d\n", bad)
	}
}

// loadClassifierOptions reads a collector config and returns the options of
// its comfypattern processor, decoded exactly as the collector would (the
// processor's own Config and defaults), plus a description of the source.
func loadClassifierOptions(path string) (classifier.Options, string, error) {
	resolver, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs:              []string{"file:" + path},
		ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory()},
		DefaultScheme:     "env",
		ProviderSettings:  confmap.ProviderSettings{Logger: zap.NewNop()},
	})
	if err != nil {
		return classifier.Options{}, "", err
	}
	conf, err := resolver.Resolve(context.Background())
	if err != nil {
		return classifier.Options{}, "", fmt.Errorf("%s: %w", path, err)
	}
	cfg := comfypatternprocessor.NewFactory().CreateDefaultConfig().(*comfypatternprocessor.Config)
	procs, err := conf.Sub("processors")
	if err != nil {
		return classifier.Options{}, "", fmt.Errorf("%s: processors: %w", path, err)
	}
	id := ""
	if procs.IsSet("comfypattern") {
		id = "comfypattern"
	} else {
		// confmap does not keep key order; "first" means first in the file,
		// so read the processor names in order from the YAML itself.
		for _, name := range processorNamesInOrder(path) {
			if strings.HasPrefix(name, "comfypattern/") && procs.IsSet(name) {
				id = name
				break
			}
		}
		if id == "" { // e.g. the processor came from a ${file:...} include
			var names []string
			for _, k := range procs.AllKeys() {
				// AllKeys flattens nested keys ("a::b"); keep the top-level names.
				top, _, _ := strings.Cut(k, confmap.KeyDelimiter)
				if strings.HasPrefix(top, "comfypattern/") {
					names = append(names, top)
				}
			}
			sort.Strings(names)
			if len(names) > 0 {
				id = names[0]
			}
		}
	}
	if id == "" {
		return cfg.Options, path + " (no comfypattern processor: built-in defaults)", nil
	}
	sub, err := procs.Sub(id)
	if err != nil {
		return classifier.Options{}, "", fmt.Errorf("%s: processors::%s: %w", path, id, err)
	}
	if err := sub.Unmarshal(cfg); err != nil {
		return classifier.Options{}, "", fmt.Errorf("%s: processors::%s: %w", path, id, err)
	}
	if cfg.RulesFile != "" {
		b, err := os.ReadFile(cfg.RulesFile)
		if err != nil {
			return classifier.Options{}, "", fmt.Errorf("%s: processors::%s: rules_file: %w", path, id, err)
		}
		opts, err := comfypatternprocessor.MergeRulesFile(cfg.Options, cfg.RulesFile, b)
		if err != nil {
			return classifier.Options{}, "", fmt.Errorf("%s: processors::%s: %w", path, id, err)
		}
		return opts, path + " processors::" + id + " + " + cfg.RulesFile, nil
	}
	return cfg.Options, path + " processors::" + id, nil
}

// processorNamesInOrder lists the keys of the top-level "processors" map of a
// YAML file in file order (best effort: nil on any error).
func processorNamesInOrder(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "processors" || root.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		procs := root.Content[i+1]
		var names []string
		for j := 0; j < len(procs.Content); j += 2 {
			names = append(names, procs.Content[j].Value)
		}
		return names
	}
	return nil
}
