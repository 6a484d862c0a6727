package incident // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/incident"

import (
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Ref locates a record in a plog.Logs: resource, scope and record index.
type Ref struct {
	Resource, Scope, Record int
}

// LogRecord returns the record r points at in ld.
func (r Ref) LogRecord(ld plog.Logs) plog.LogRecord {
	return ld.ResourceLogs().At(r.Resource).ScopeLogs().At(r.Scope).LogRecords().At(r.Record)
}

// Incident is one failure: one or more records of one instance and job.
type Incident struct {
	// Members in arrival order; Members[0] is the identity.
	Members []Ref
	// Instance and JobID as read with Options (JobID: the first member's
	// that has one; "" when none has).
	Instance, JobID string
	// Kind is the root cause's comfy.failure.kind by Options.KindPriority.
	Kind string
	// Root is the member Kind came from (the first member when no member
	// has a kind): read exception.type/message/stacktrace there.
	Root Ref
	// Text is the whole text: the members' messages joined with "\n",
	// without members already contained in it.
	Text string
	// Start and End are the first and last member's times.
	Start, End pcommon.Timestamp
}

// First is the identity record of the incident.
func (in *Incident) First() Ref { return in.Members[0] }

// Options say which attributes to read and when records belong together.
type Options struct {
	// Gap is the longest time between an incident's last record and a
	// detail record that joins it.
	Gap time.Duration
	// KindPriority orders failure kinds, root cause first. Kinds not listed
	// rank after all listed ones; among equals the first member's wins.
	KindPriority []string
	// InstanceAttributes and JobAttributes are read on the record, then the
	// scope, then the resource; the first non-empty value wins.
	InstanceAttributes []string
	JobAttributes      []string
	// NoJobValues are job ids that mean "no job" (compared exactly).
	NoJobValues []string
	// MessageAttribute holds the cleaned message; the body is used when it
	// is absent.
	MessageAttribute string
	// KindAttribute holds the failure kind.
	KindAttribute string
	// ContinuesAttribute (bool) marks a record that continues the failure
	// before it.
	ContinuesAttribute string
	// DetailPrefixes start a record (its first non-empty line, after a
	// `[timestamp] ` prefix) that details the failure before it; a prefix
	// ending in " :" also matches aligned columns (`Requested     : 2 GiB`). Indented lines, exception lines (`SomeError: message`)
	// and native frames (`#12 0x…`) are details without being listed.
	DetailPrefixes []string
}

// DefaultOptions are the attribute names of docs/attributes.md and the
// detail lines ComfyUI, PyTorch and the ComfyUI launchers print.
func DefaultOptions() Options {
	return Options{
		Gap:                2 * time.Second,
		KindPriority:       []string{"oom", "cuda", "crash", "import", "validation", "exception"},
		InstanceAttributes: []string{"comfy.instance", "service.instance.id"},
		// comfyjob writes comfy.job_id only for a real, current job: a
		// record without it belongs to no job even if its emerge.job_id
		// names one (`unknown`, or the last prompt's, kept by ComfyUI).
		JobAttributes:      []string{"comfy.job_id"},
		NoJobValues:        []string{"", "unknown", "none", "null", "undefined"},
		MessageAttribute:   "comfy.message",
		KindAttribute:      "comfy.failure.kind",
		ContinuesAttribute: "comfy.failure.continues",
		DetailPrefixes: []string{
			// Python tracebacks and chained exceptions.
			"Traceback (most recent call last):",
			"During handling of the above exception",
			"The above exception was the direct cause",
			// PyTorch's out-of-memory details and ComfyUI's reaction.
			"Currently allocated",
			"Requested :",
			"Device limit",
			"Free (according to CUDA)",
			"PyTorch limit",
			"Of the allocated memory",
			"Got an OOM",
			"Memory summary",
			// CUDA errors.
			"CUDA kernel errors might be asynchronously reported",
			"For debugging consider passing CUDA_LAUNCH_BLOCKING",
			"Compile with `TORCH_USE_CUDA_DSA`",
			"Search for `cudaError",
			"Search for 'cudaError",
			// Prompt validation blocks.
			"* ",
			"- ",
			"Output will be ignored",
			"invalid prompt:",
			"Prompt outputs failed validation",
			// A failed custom-node import: traceback first, then this.
			"Cannot import ",
			// faulthandler's dump after a native crash.
			"Current thread 0x",
			"Thread 0x",
			// Load errors and launcher epilogues.
			"Make sure this is actually",
			"Press any key to continue",
			"ComfyUI has exited",
		},
	}
}

// Grouper groups with fixed options; safe for concurrent use.
type Grouper struct {
	opts  Options
	rank  map[string]int
	noJob map[string]struct{}
}

// NewGrouper prepares options for repeated Group calls.
func NewGrouper(opts Options) *Grouper {
	g := &Grouper{opts: opts, rank: make(map[string]int, len(opts.KindPriority)), noJob: map[string]struct{}{}}
	for i, k := range opts.KindPriority {
		if _, dup := g.rank[k]; !dup {
			g.rank[k] = i
		}
	}
	for _, v := range opts.NoJobValues {
		g.noJob[v] = struct{}{}
	}
	return g
}

// Group is NewGrouper(opts).Group(ld).
func Group(ld plog.Logs, opts Options) []Incident { return NewGrouper(opts).Group(ld) }

// open is an instance's incident that may still grow.
type open struct {
	instance string
	idx      int   // into the result
	last     int64 // time of its last member, Unix ns
	// traceback: the incident holds a traceback; a second one starts a new
	// incident (ComfyUI logs a failed import's traceback, then `Cannot
	// import …`, then the next module's traceback) unless the last member
	// chains them (`During handling of the above exception …`).
	traceback, chained bool
}

// building holds an incident's member texts until the end.
type building struct {
	texts    []string
	kindRank int
}

// Group returns the incidents of ld's records, in the order of their first
// member. Every record belongs to exactly one incident.
func (g *Grouper) Group(ld plog.Logs) []Incident {
	n := ld.LogRecordCount()
	if n == 0 {
		return nil
	}
	out := make([]Incident, 0, n)
	bld := make([]building, 0, n)
	var opens []open // per instance; a machine has a handful
	gap := int64(g.opts.Gap)

	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scope := sl.Scope().Attributes()
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				attrs := lr.Attributes()
				instance := first(g.opts.InstanceAttributes, attrs, scope, res)
				job := first(g.opts.JobAttributes, attrs, scope, res)
				if _, none := g.noJob[job]; none {
					job = ""
				}
				text := g.message(lr)
				t := recordTime(lr)
				kind := ""
				if v, ok := attrs.Get(g.opts.KindAttribute); ok {
					kind = v.Str()
				}
				ref := Ref{i, j, k}

				o := -1
				for x := range opens {
					if opens[x].instance == instance {
						o = x
						break
					}
				}
				line := leadLine(text)
				tb := strings.HasPrefix(line, tracebackHeader)
				join := false
				if o >= 0 {
					cur := &out[opens[o].idx]
					if sameJob(cur.JobID, job) {
						switch {
						case g.continues(attrs):
							join = true
						case tb && opens[o].traceback && !opens[o].chained:
						case isDetail(line, g.opts.DetailPrefixes):
							join = t == 0 || opens[o].last == 0 || t-opens[o].last <= gap
						}
					}
				}
				chained := isChainLine(lastLine(text))
				if join {
					opens[o].traceback = opens[o].traceback || tb || strings.Contains(text, tracebackHeader)
					opens[o].chained = chained
					idx := opens[o].idx
					in, b := &out[idx], &bld[idx]
					in.Members = append(in.Members, ref)
					if in.JobID == "" {
						in.JobID = job
					}
					b.texts = append(b.texts, text)
					if r := g.kindRank(kind); r < b.kindRank {
						b.kindRank, in.Kind, in.Root = r, kind, ref
					}
					if t != 0 {
						opens[o].last = t
						in.End = pcommon.Timestamp(t)
					}
					continue
				}
				// Room for a banner, its traceback and two details: one
				// allocation for most incidents.
				members := make([]Ref, 1, 4)
				members[0] = ref
				texts := make([]string, 1, 4)
				texts[0] = text
				out = append(out, Incident{
					Members:  members,
					Instance: instance,
					JobID:    job,
					Kind:     kind,
					Root:     ref,
					Start:    pcommon.Timestamp(t),
					End:      pcommon.Timestamp(t),
				})
				bld = append(bld, building{texts: texts, kindRank: g.kindRank(kind)})
				op := open{instance: instance, idx: len(out) - 1, last: t,
					traceback: strings.Contains(text, tracebackHeader), chained: chained}
				if o >= 0 {
					opens[o] = op
				} else {
					opens = append(opens, op)
				}
			}
		}
	}
	for i := range out {
		out[i].Text = joinTexts(bld[i].texts)
	}
	return out
}

func (g *Grouper) kindRank(kind string) int {
	if kind == "" {
		return len(g.opts.KindPriority) + 1
	}
	if r, ok := g.rank[kind]; ok {
		return r
	}
	return len(g.opts.KindPriority)
}

func (g *Grouper) continues(attrs pcommon.Map) bool {
	if g.opts.ContinuesAttribute == "" {
		return false
	}
	v, ok := attrs.Get(g.opts.ContinuesAttribute)
	if !ok {
		return false
	}
	switch v.Type() {
	case pcommon.ValueTypeBool:
		return v.Bool()
	case pcommon.ValueTypeStr:
		return v.Str() == "true"
	}
	return false
}

// message is the record's cleaned message, else its body, without
// trailing blanks.
func (g *Grouper) message(lr plog.LogRecord) string {
	if g.opts.MessageAttribute != "" {
		if v, ok := lr.Attributes().Get(g.opts.MessageAttribute); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return strings.TrimRight(v.Str(), " \t\r\n")
		}
	}
	b := lr.Body()
	if b.Type() == pcommon.ValueTypeStr {
		return strings.TrimRight(b.Str(), " \t\r\n")
	}
	return strings.TrimRight(b.AsString(), " \t\r\n")
}

// sameJob: equal, or one side has no job (a detail line read from the
// file before the job was known still belongs to its banner).
func sameJob(a, b string) bool { return a == b || a == "" || b == "" }

func first(names []string, maps ...pcommon.Map) string {
	for _, m := range maps {
		for _, n := range names {
			if v, ok := m.Get(n); ok {
				if s := v.AsString(); s != "" {
					return s
				}
			}
		}
	}
	return ""
}

func recordTime(lr plog.LogRecord) int64 {
	if t := lr.Timestamp(); t != 0 {
		return int64(t)
	}
	return int64(lr.ObservedTimestamp())
}

const tracebackHeader = "Traceback (most recent call last):"

// leadLine is text's first non-empty line without a `[timestamp] ` prefix.
func leadLine(text string) string { return stripTimestamp(firstLine(text)) }

func lastLine(text string) string {
	text = strings.TrimRight(text, " \t\r\n")
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[i+1:]
	}
	return strings.TrimSpace(stripTimestamp(text))
}

// isChainLine: Python's separators between chained exceptions.
func isChainLine(l string) bool {
	return strings.HasPrefix(l, "During handling of the above exception") ||
		strings.HasPrefix(l, "The above exception was the direct cause")
}

// isDetail reports whether line (a record's lead line) details a failure
// before it.
func isDetail(line string, prefixes []string) bool {
	if line == "" {
		return false
	}
	if line[0] == ' ' || line[0] == '\t' {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(line, p) {
			return true
		}
		// `Name :` matches PyTorch's aligned `Name        : value`.
		if name, ok := strings.CutSuffix(p, " :"); ok && strings.HasPrefix(line, name) {
			if i := strings.IndexByte(line, ':'); i >= len(name) && strings.TrimRight(line[:i], " ") == name {
				return true
			}
		}
	}
	return isExceptionLine(line) || isNativeFrame(line)
}

func firstLine(s string) string {
	for len(s) > 0 {
		l := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			l, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		if strings.TrimSpace(l) != "" {
			return strings.TrimRight(l, "\r")
		}
	}
	return ""
}

// stripTimestamp removes a leading `[2024-06-17 13:15:02.123] ` (a body
// without comfy.message); indentation after it is kept.
func stripTimestamp(l string) string {
	if len(l) > 12 && l[0] == '[' && l[1] >= '0' && l[1] <= '9' {
		if i := strings.IndexByte(l, ']'); i > 0 && i < 32 {
			l = l[i+1:]
			if len(l) > 0 && l[0] == ' ' {
				l = l[1:]
			}
		}
	}
	return l
}

// isExceptionLine matches `torch.OutOfMemoryError: …`, `KeyboardInterrupt`:
// a dotted name ending in Error, Exception, Exit or Interrupt, then a
// colon or the end.
func isExceptionLine(l string) bool {
	end := strings.IndexByte(l, ':')
	if end < 0 {
		end = len(l)
	}
	name := l[:end]
	if name == "" || strings.ContainsAny(name, " \t") {
		return false
	}
	for _, s := range [...]string{"Error", "Exception", "Exit", "Interrupt"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// isNativeFrame matches a native crash frame `#12 0x00007ffe…`.
func isNativeFrame(l string) bool {
	if len(l) < 3 || l[0] != '#' || l[1] < '0' || l[1] > '9' {
		return false
	}
	i := 1
	for i < len(l) && l[i] >= '0' && l[i] <= '9' {
		i++
	}
	return strings.HasPrefix(strings.TrimLeft(l[i:], " "), "0x")
}

// joinTexts joins member texts with "\n", leaving out a text that the
// joined text already holds as whole lines.
func joinTexts(texts []string) string {
	if len(texts) == 1 {
		return texts[0]
	}
	size := 0
	for _, t := range texts {
		size += len(t) + 1
	}
	var b strings.Builder
	b.Grow(size)
	for _, t := range texts {
		if t == "" || containsBlock(b.String(), t) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(t)
	}
	return b.String()
}

// containsBlock reports whether m occurs in s starting and ending at line
// boundaries.
func containsBlock(s, m string) bool {
	for off := 0; off <= len(s)-len(m); {
		i := strings.Index(s[off:], m)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(m)
		if (i == 0 || s[i-1] == '\n') && (end == len(s) || s[end] == '\n') {
			return true
		}
		off = i + 1
	}
	return false
}
