package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

// The failure path with failures.incident on: plan collects the push's
// failure records, groups them into incidents (package incident) and maps
// each incident to ONE XADD. ComfyUI reports one failed node with several
// log calls (the `!!! Exception during processing !!!` banner, the
// traceback, PyTorch's out-of-memory details); a worker wants one entry per
// failure, with the whole text and the root cause's kind.
//
// The push is the window: exporterhelper's sending_queue batch decides which
// records one push sees, and the queue acknowledges them only after the
// push, so a crash in between replays the same records (same incidents, same
// event ids).

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/incident"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
)

// newGrouper builds the grouper the configuration asks for, nil when
// failures.incident is off. It reads the job and the instance by the same
// attribute names as the keys, so that an incident never spans two jobs'
// streams.
func newGrouper(cfg *Config) *incident.Grouper {
	if !cfg.Failures.Incident.Enabled {
		return nil
	}
	opts := incident.DefaultOptions()
	opts.Gap = cfg.Failures.Incident.Gap
	if names := cfg.Attributes[PlaceholderJobID]; len(names) > 0 {
		opts.JobAttributes = slices.Clone(names)
	}
	if names := cfg.Attributes[PlaceholderInstance]; len(names) > 0 {
		opts.InstanceAttributes = slices.Clone(names)
	}
	// The grouper compares exactly; the exporter without case
	// (failures.no_job_ids): give it both spellings.
	noJob := []string{""}
	for _, id := range cfg.Failures.NoJobIDs {
		id = strings.TrimSpace(id)
		noJob = append(noJob, id, strings.ToLower(id), strings.ToUpper(id))
	}
	opts.NoJobValues = noJob
	return incident.NewGrouper(opts)
}

// planIncidents groups the failure records refs (in record order) and
// appends one message per incident to msgs.
func (e *redisExporter) planIncidents(ld plog.Logs, refs []recordRef, now time.Time, buf *batchBuffers, msgs []message) []message {
	// The grouper walks a plog.Logs. A failures tier gets only failures
	// (the routing keeps each tier's class): group ld itself. Otherwise
	// group a copy of the failure records.
	src := ld
	if len(refs) != ld.LogRecordCount() {
		src = subsetLogs(ld, refs)
	}
	incs := e.mapper.grouper.Group(src)

	// src's records in walk order are refs in order: base[rl][sl] is the
	// index in refs of the scope's first record.
	base := make([][]int, src.ResourceLogs().Len())
	n := 0
	for i := range base {
		sls := src.ResourceLogs().At(i).ScopeLogs()
		base[i] = make([]int, sls.Len())
		for j := range base[i] {
			base[i][j] = n
			n += sls.At(j).LogRecords().Len()
		}
	}

	// Every record belongs to exactly one incident: one slab holds the
	// members of all of them.
	if cap(buf.members) < len(refs) {
		buf.members = make([]recordRef, 0, len(refs))
	}
	slab := buf.members[:0]
	cur := &cursor{rc: buf.rc(e.mapper), ld: ld, rl: -1, sl: -1}
	for i := range incs {
		in := &incs[i]
		start := len(slab)
		for _, r := range in.Members {
			slab = append(slab, refs[base[r.Resource][r.Scope]+r.Record])
		}
		members := slab[start:len(slab):len(slab)]
		root := refs[base[in.Root.Resource][in.Root.Scope]+in.Root.Record]
		var m message
		m, buf.failures = cur.incident(in, members, root, now, buf.failures)
		msgs = append(msgs, m)
	}
	buf.members = slab
	return msgs
}

// cursor moves a record context over the records of ld, reading a
// resource and a scope again only when the record is under another one.
type cursor struct {
	rc     *recordContext
	ld     plog.Logs
	rl, sl int // where rc's resource and scope are from; -1: nowhere yet
}

// at points the record context at the record r.
func (c *cursor) at(r recordRef) *recordContext {
	rl := c.ld.ResourceLogs().At(r.rl)
	if r.rl != c.rl {
		c.rc.setResource(rl.Resource().Attributes())
		c.rl, c.sl = r.rl, -1
	}
	sl := rl.ScopeLogs().At(r.sl)
	if r.sl != c.sl {
		c.rc.setScope(sl.Scope().Attributes())
		c.sl = r.sl
	}
	c.rc.reset(sl.LogRecords().At(r.lr))
	return c.rc
}

// incident maps an incident to one XADD. The first member is its identity:
// event id, timestamp, machine, instance, severity, trace (a resend of the
// same records yields the same event id). The text is the incident's whole
// text and the kind its root cause's; the exception and platform fields are
// the root member's (the member the kind came from), a pair missing there
// taken from the first member that has it. The job is the first member's
// that has one: a detail line read before its job was known still goes to
// the job's stream with its banner.
func (c *cursor) incident(in *incident.Incident, members []recordRef, root recordRef, now time.Time, failures []payload.Failure) (message, []payload.Failure) {
	rc := c.at(members[0])
	msg, failures := rc.failure(now, failures)
	msg.rec = members[0]
	f := &failures[len(failures)-1]
	f.IncidentLines = strconv.Itoa(len(members))
	if len(members) == 1 {
		return msg, failures
	}
	msg.members = members
	if t := cleanText(in.Text); strings.TrimSpace(t) != "" {
		f.Message = t
	}
	if in.Kind != "" {
		f.Kind = in.Kind
	}
	if root != members[0] {
		a := &c.at(root).a
		f.ExceptionType, f.ExceptionMessage = a.exceptionType, a.exceptionMsg
		f.Retry = a.retry
		f.HumanReadableMessage, f.CallToAction = a.humanMessage, a.callToAction
		f.Rule, f.PatternMatched = a.rule, a.rule
	}
	needJob := f.JobID == "" && in.JobID != ""
	missing := func() bool {
		return needJob || f.ExceptionType == "" && f.ExceptionMessage == "" || f.Retry == "" ||
			f.HumanReadableMessage == "" && f.CallToAction == "" || f.Rule == ""
	}
	for _, r := range members[1:] {
		if !missing() {
			break
		}
		c.at(r)
		a := &rc.a
		if f.ExceptionType == "" && f.ExceptionMessage == "" {
			f.ExceptionType, f.ExceptionMessage = a.exceptionType, a.exceptionMsg
		}
		if f.Retry == "" {
			f.Retry = a.retry
		}
		if f.HumanReadableMessage == "" && f.CallToAction == "" {
			f.HumanReadableMessage, f.CallToAction = a.humanMessage, a.callToAction
		}
		if f.Rule == "" {
			f.Rule, f.PatternMatched = a.rule, a.rule
		}
		if job := rc.jobID(); needJob && job != "" {
			needJob = false
			f.JobID = job
			if f.WorkflowID == "" {
				f.WorkflowID = rc.raw(phWorkflow)
			}
			msg.key, msg.keyArg = rc.key(rc.m.stream)
			msg.fallback = false
		}
	}
	return msg, failures
}

// records appends the records m stands for to dst.
func (m *message) records(dst []recordRef) []recordRef {
	if m.members != nil {
		return append(dst, m.members...)
	}
	return append(dst, m.rec)
}

// count is the number of records m stands for.
func (m *message) count() int64 {
	if m.members != nil {
		return int64(len(m.members))
	}
	return 1
}

// sortRefs puts refs in record order (incidents interleave across
// instances), so that subsetLogs keeps one resource and scope per run.
func sortRefs(refs []recordRef) {
	slices.SortFunc(refs, func(a, b recordRef) int {
		if c := cmp.Compare(a.rl, b.rl); c != 0 {
			return c
		}
		if c := cmp.Compare(a.sl, b.sl); c != 0 {
			return c
		}
		return cmp.Compare(a.lr, b.lr)
	})
}
