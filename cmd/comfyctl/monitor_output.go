package main

// Output of `comfyctl monitor` in three modes:
//
//   - tty:   live display; one progress bar per machine/instance/job that is
//     redrawn in place with ANSI escapes, events and failures scroll above
//     the bars; colours unless NO_COLOR / --no-color.
//   - plain: stdout is not a terminal; one line per event, no escapes, so it
//     can be piped to grep or a file.
//   - json:  one JSON object per event (keys documented in README.md,
//     "What it shows", always present so scripts can rely on them).
//
// In tty and plain modes every piece of text from Redis goes through
// line.render, which escapes control characters (monitor_escape.go).
//
// Status messages (cannot reach Redis, reconnected) go to stderr except in
// tty mode, where they scroll with the events so they do not tear the bars.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
)

type outputMode int

const (
	modePlain outputMode = iota
	modeJSON
	modeTTY
)

// progressEvent is one progress message as the monitor shows it; the JSON
// form is the --json output for the progress tier.
type progressEvent struct {
	Tier      string `json:"tier"` // always "progress"
	Time      string `json:"time"` // the payload's timestamp (RFC 3339, UTC, ms)
	Channel   string `json:"channel"`
	MachineID string `json:"machine_id"`
	JobID     string `json:"job_id"`
	Instance  string `json:"instance"`
	Kind      string `json:"kind"`
	Event     string `json:"event"`
	// Numbers are null when the message has none (lifecycle events).
	Current *float64 `json:"current"`
	Total   *float64 `json:"total"`
	Percent *float64 `json:"percent"`
	// Rate and RemainingSeconds come from the payload (tqdm's figures) or,
	// when it has none, from the monitor's own estimate over successive
	// updates of the same bar.
	Rate             *float64        `json:"rate"`
	RateUnit         string          `json:"rate_unit"`
	RemainingSeconds *float64        `json:"remaining_seconds"`
	Message          string          `json:"message"`
	Final            bool            `json:"final"`
	Payload          json.RawMessage `json:"payload"` // the message as published, untouched

	key     string
	hasBar  bool
	updated time.Time
}

// failureEvent is one stream entry as the monitor shows it; the JSON form is
// the --json output for the failure tier.
type failureEvent struct {
	Tier             string `json:"tier"` // always "failure"
	Time             string `json:"time"`
	Stream           string `json:"stream"`
	ID               string `json:"id"` // stream entry id
	MachineID        string `json:"machine_id"`
	JobID            string `json:"job_id"`
	Kind             string `json:"kind"`
	ExceptionType    string `json:"exception_type"`
	ExceptionMessage string `json:"exception_message"`
	Message          string `json:"message"` // the whole traceback when there is one
	EventID          string `json:"event_id"`
	Severity         string `json:"severity"`
	Instance         string `json:"instance"`
	ServiceName      string `json:"service_name"`
	WorkflowID       string `json:"workflow_id"`
	TraceID          string `json:"trace_id"`
	SpanID           string `json:"span_id"`
	Rule             string `json:"rule"`
}

func newFailureEvent(stream, id string, f *payload.Failure) *failureEvent {
	return &failureEvent{
		Tier: "failure", Time: f.Timestamp, Stream: stream, ID: id,
		MachineID: f.MachineID, JobID: f.JobID, Kind: f.Kind,
		ExceptionType: f.ExceptionType, ExceptionMessage: f.ExceptionMessage,
		Message: f.Message, EventID: f.EventID, Severity: f.Severity,
		Instance: f.Instance, ServiceName: f.ServiceName, WorkflowID: f.WorkflowID,
		TraceID: f.TraceID, SpanID: f.SpanID, Rule: f.Rule,
	}
}

// ANSI SGR codes.
const (
	sgrDim     = "2"
	sgrRed     = "1;31"
	sgrGreen   = "32"
	sgrYellow  = "33"
	sgrMagenta = "35"
	sgrCyan    = "36"
	sgrBold    = "1"
)

// seg is a piece of a line with its colour; lines are built from segments
// so that they can be cut to the terminal width before escapes are added.
type seg struct{ text, sgr string }

type line []seg

func (l line) render(color bool, width int) string {
	var b strings.Builder
	left := width
	for i, s := range l {
		// Escaped before cutting, so widths count what the terminal shows
		// and nothing from Redis can act on the terminal.
		t := escapeControls(s.text)
		if width > 0 {
			if left <= 0 {
				break
			}
			if n := utf8.RuneCountInString(t); n > left {
				r := []rune(t)
				t = string(r[:max(left-1, 0)]) + "…"
			}
			left -= utf8.RuneCountInString(t)
		}
		if i == len(l)-1 {
			t = strings.TrimRight(t, " ")
		}
		if color && s.sgr != "" && t != "" {
			b.WriteString("\x1b[" + s.sgr + "m" + t + "\x1b[0m")
		} else {
			b.WriteString(t)
		}
	}
	return b.String()
}

type bar struct {
	ev    *progressEvent
	order int
}

type printer struct {
	mu         sync.Mutex
	out        io.Writer
	errOut     io.Writer
	mode       outputMode
	color      bool
	tierPrefix bool
	traceback  bool
	width      func() int

	bars       map[string]*bar
	seq        int
	drawn      int
	staleAfter time.Duration

	count   int
	perTier map[string]int
	limit   int
	onLimit func()
	closed  bool
}

func newPrinter(out, errOut io.Writer, mode outputMode, color, tierPrefix, traceback bool, width func() int, limit int, onLimit func()) *printer {
	if width == nil {
		width = func() int { return 0 }
	}
	p := &printer{
		out: out, errOut: errOut, mode: mode, color: color && mode == modeTTY,
		tierPrefix: tierPrefix, traceback: traceback, width: width,
		bars: map[string]*bar{}, staleAfter: 2 * time.Minute, perTier: map[string]int{},
		limit: limit, onLimit: onLimit,
	}
	if mode == modeTTY {
		io.WriteString(out, "\x1b[?25l") // hide the cursor while bars are redrawn
	}
	return p
}

// run removes bars that stopped updating (an interrupted prompt never sends
// its final state) and keeps the display fresh.
func (p *printer) run(ctx context.Context) {
	if p.mode != modeTTY {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.mu.Lock()
			removed := false
			for k, b := range p.bars {
				if time.Since(b.ev.updated) > p.staleAfter {
					delete(p.bars, k)
					removed = true
				}
			}
			if removed && !p.closed {
				p.redraw(nil)
			}
			p.mu.Unlock()
		}
	}
}

// close leaves the terminal as it was found: bars stay on screen, cursor shown.
func (p *printer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.mode == modeTTY {
		io.WriteString(p.out, "\x1b[?25h")
	}
}

// admit counts an event; false when --count was already reached.
func (p *printer) admit(tier string) bool {
	if p.closed || (p.limit > 0 && p.count >= p.limit) {
		return false
	}
	p.count++
	p.perTier[tier]++
	return true
}

// summary is the number of events shown per tier, for --summary.
func (p *printer) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%d progress events, %d failures", p.perTier["progress"], p.perTier["failure"])
}

func (p *printer) afterEvent() {
	if p.limit > 0 && p.count >= p.limit && p.onLimit != nil {
		p.onLimit()
	}
}

func (p *printer) progress(ev *progressEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.admit("progress") {
		return
	}
	defer p.afterEvent()
	switch p.mode {
	case modeJSON:
		p.writeJSON(ev)
	case modePlain:
		io.WriteString(p.out, p.progressLine(ev, true, 0).render(false, 0)+"\n")
	case modeTTY:
		if ev.hasBar && !ev.Final {
			b := p.bars[ev.key]
			if b == nil {
				p.seq++
				b = &bar{order: p.seq}
				p.bars[ev.key] = b
			}
			b.ev = ev
			p.redraw(nil)
			return
		}
		// A finished bar or an event without numbers scrolls into the log.
		delete(p.bars, ev.key)
		if endsPrompt(ev) {
			// An interrupted or finished prompt never sends the final
			// state of its bars: remove them now rather than when stale.
			for k, b := range p.bars {
				if b.ev.MachineID == ev.MachineID && (ev.JobID != "" && b.ev.JobID == ev.JobID ||
					ev.JobID == "" && b.ev.Instance == ev.Instance) {
					delete(p.bars, k)
				}
			}
		}
		p.redraw([]line{p.progressLine(ev, false, 0)})
	}
}

func (p *printer) failure(ev *failureEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.admit("failure") {
		return
	}
	defer p.afterEvent()
	switch p.mode {
	case modeJSON:
		p.writeJSON(ev)
	case modePlain:
		for _, l := range p.failureLines(ev, true) {
			io.WriteString(p.out, l.render(false, 0)+"\n")
		}
	case modeTTY:
		p.redraw(p.failureLines(ev, false))
	}
}

// status reports connection state; kind is "info" or "error".
func (p *printer) status(kind, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.mode == modeTTY {
		c := sgrDim
		if kind == "error" {
			c = sgrYellow
		}
		p.redraw([]line{{{time.Now().Format("15:04:05") + "  ", sgrDim}, {"monitor: " + msg, c}}})
		return
	}
	fmt.Fprintf(p.errOut, "comfyctl monitor: %s\n", escapeControls(msg))
}

func (p *printer) writeJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	p.out.Write(append(jsonEscapeControls(b), '\n'))
}

// redraw erases the bars, prints the log lines above them and draws the
// bars again below; the cursor ends on the line after the last bar.
func (p *printer) redraw(log []line) {
	w := p.width()
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dF", p.drawn)
	}
	b.WriteString("\x1b[J")
	lw := 0
	if w > 1 {
		lw = w - 1 // never fill the last column: some terminals wrap there
	}
	for _, l := range log {
		// Log lines wrap naturally (a traceback line may be long); only
		// the bars must fit on one line each for the cursor arithmetic.
		b.WriteString(l.render(p.color, 0) + "\n")
	}
	bars := make([]*bar, 0, len(p.bars))
	for _, br := range p.bars {
		bars = append(bars, br)
	}
	sort.Slice(bars, func(i, j int) bool { return bars[i].order < bars[j].order })
	const maxBars = 40
	if len(bars) > maxBars {
		bars = bars[len(bars)-maxBars:]
	}
	for _, br := range bars {
		b.WriteString(p.progressLine(br.ev, false, lw).render(p.color, lw) + "\n")
	}
	p.drawn = len(bars)
	io.WriteString(p.out, b.String())
}

func (p *printer) prefix(tier string) []seg {
	if !p.tierPrefix {
		return nil
	}
	c := sgrCyan
	if tier == "failure" {
		c = sgrRed
	}
	return []seg{{fmt.Sprintf("%-8s  ", tier), c}}
}

func (p *printer) progressLine(ev *progressEvent, plain bool, width int) line {
	l := line(p.prefix("progress"))
	l = append(l,
		seg{showTime(ev.Time, plain) + "  ", sgrDim},
		seg{machineLabel(ev.MachineID, ev.Instance) + "  ", sgrCyan},
		seg{orDash(ev.JobID) + "  ", sgrMagenta},
		seg{orDash(ev.Kind) + "  ", ""},
	)
	if !ev.hasBar {
		if ev.Event != "" {
			l = append(l, seg{ev.Event + "  ", sgrYellow})
		}
		return append(l, seg{ev.Message, ""})
	}
	frac := 0.0
	if ev.Percent != nil {
		frac = *ev.Percent / 100
	}
	bytes := isBytes(ev.RateUnit)
	var tail line
	if ev.Current != nil && ev.Total != nil {
		tail = append(tail, seg{fmtQuantity(*ev.Current, bytes) + "/" + fmtQuantity(*ev.Total, bytes) + "  ", ""})
	}
	if ev.Rate != nil {
		tail = append(tail, seg{fmtRate(*ev.Rate, ev.RateUnit) + "  ", ""})
	}
	if ev.Final {
		tail = append(tail, seg{"done", sgrGreen})
	} else if ev.RemainingSeconds != nil {
		tail = append(tail, seg{"eta " + fmtDuration(*ev.RemainingSeconds), sgrDim})
	}
	pct := seg{fmt.Sprintf("%5.1f%% ", frac*100), sgrBold}
	// The bar takes the room the text leaves on the terminal (bars must
	// not wrap: the redraw counts lines).
	barWidth := 20
	if width > 0 {
		used := l.width() + tail.width() + utf8.RuneCountInString(pct.text) + 4
		barWidth = min(max(width-used, 8), 30)
	}
	l = append(l, pct, seg{progressBar(frac, barWidth, plain) + "  ", sgrGreen})
	return append(l, tail...)
}

func (l line) width() int {
	n := 0
	for _, s := range l {
		n += utf8.RuneCountInString(escapeControls(s.text))
	}
	return n
}

func (p *printer) failureLines(ev *failureEvent, plain bool) []line {
	summary := failureSummary(ev)
	l := line(p.prefix("failure"))
	l = append(l,
		seg{showTime(ev.Time, plain) + "  ", sgrDim},
		seg{machineLabel(ev.MachineID, ev.Instance) + "  ", sgrCyan},
		seg{orDash(ev.JobID) + "  ", sgrMagenta},
		seg{"FAILURE " + orDash(ev.Kind) + "  ", sgrRed},
		seg{summary, sgrBold},
	)
	out := []line{l}
	if p.traceback && strings.TrimSpace(ev.Message) != "" {
		for _, tl := range strings.Split(strings.TrimRight(ev.Message, "\n"), "\n") {
			out = append(out, line{{"    | " + strings.TrimRight(tl, "\r"), sgrDim}})
		}
	}
	return out
}

// endsPrompt: lifecycle events after which a prompt's bars are over.
func endsPrompt(ev *progressEvent) bool {
	if ev.Kind != "lifecycle" {
		return false
	}
	switch e := ev.Event; {
	case e == "prompt_executed", e == "interrupted", strings.Contains(e, "error"), strings.Contains(e, "fail"):
		return true
	}
	return false
}

// failureSummary is "Type: message", falling back to the traceback's last
// non-empty line (Python puts the exception there) or its first line.
func failureSummary(ev *failureEvent) string {
	switch {
	case ev.ExceptionType != "" && ev.ExceptionMessage != "":
		return ev.ExceptionType + ": " + firstLine(ev.ExceptionMessage)
	case ev.ExceptionType != "":
		return ev.ExceptionType
	case ev.ExceptionMessage != "":
		return firstLine(ev.ExceptionMessage)
	}
	lines := strings.Split(strings.TrimSpace(ev.Message), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(lines[i]); s != "" {
			return s
		}
	}
	return ""
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i]) + " …"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func machineLabel(machine, instance string) string {
	if instance == "" {
		return orDash(machine)
	}
	return orDash(machine) + "/" + instance
}

// showTime: the full timestamp when piped (greppable, sortable), the local
// wall clock on a terminal.
func showTime(ts string, plain bool) string {
	if plain {
		if ts == "" {
			return payload.FormatTimestamp(time.Now())
		}
		return ts
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t = time.Now()
	}
	return t.Local().Format("15:04:05")
}

func progressBar(frac float64, width int, plain bool) string {
	if math.IsNaN(frac) || frac < 0 {
		frac = 0
	}
	if frac > 1 {
		frac = 1
	}
	n := int(math.Round(frac * float64(width)))
	full, empty := "#", "-"
	if !plain {
		full, empty = "█", "░"
	}
	return "[" + strings.Repeat(full, n) + strings.Repeat(empty, width-n) + "]"
}

func isBytes(rateUnit string) bool { return strings.HasPrefix(rateUnit, "B") }

func fmtQuantity(v float64, bytes bool) string {
	if bytes {
		return fmtBytes(v)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

func fmtBytes(v float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for math.Abs(v) >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f%s", v, units[i])
	}
	return fmt.Sprintf("%.1f%s", v, units[i])
}

func fmtRate(rate float64, unit string) string {
	if unit == "" {
		unit = "it/s"
	}
	if isBytes(unit) {
		return fmtBytes(rate) + "/s"
	}
	if rate >= 100 {
		return fmt.Sprintf("%.0f %s", rate, unit)
	}
	return fmt.Sprintf("%.2f %s", rate, unit)
}

// fmtDuration renders seconds as m:ss or h:mm:ss.
func fmtDuration(sec float64) string {
	if math.IsNaN(sec) || math.IsInf(sec, 0) || sec < 0 {
		return "?"
	}
	s := int64(math.Round(sec))
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
