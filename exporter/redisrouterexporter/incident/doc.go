// Package incident groups the failure records of one export into incidents:
// the records that together report one failure of one ComfyUI instance in
// one job.
//
// ComfyUI reports a failed node with several log calls: the
// `!!! Exception during processing !!! <message>` banner, then the
// traceback, and for an out-of-memory error PyTorch's detail lines
// (`Currently allocated : …`, `Requested : …`, `Device limit : …`). They may
// arrive as one recombined record (the tailed file) or as several (OTLP, or a
// file whose lines were not recombined). A worker wants one stream entry per
// failure, with the whole text and the root cause's kind.
//
// Group walks the records in order and, per instance, keeps one open
// incident. A record joins the open incident of its instance (same job, or
// one of the two without a job) when
//   - it continues the failure before it (comfy.failure.continues = true,
//     set by comfypattern), or
//   - it is a detail (a traceback, an indented line, an exception line
//     `SomeError: message`, an out-of-memory detail line, a validation
//     detail, a native crash frame, … see Options.DetailPrefixes) and
//     follows the incident's last record within Options.Gap (2s), by the
//     records' timestamps (observed time when a record has none).
//
// Any other record starts a new incident. Records of other instances in
// between do not break an incident.
//
// For each incident Group returns its members (references into the
// plog.Logs, in order), the instance and job, the root-cause kind (by
// Options.KindPriority: oom > cuda > crash > import > validation >
// exception > any other kind) and the whole text: the members' messages
// (comfy.message, else the body) joined with "\n", where a member whose
// text already appears in the incident's text as whole lines (the same
// line from both sources, an exception line repeated after its traceback)
// is left out. Root is the member the kind came from: the exporter reads
// exception.type, exception.message and exception.stacktrace there. The
// first member is the incident's identity: the exporter
// derives the incident's event id from it, so a replayed export yields the
// same id.
//
// The package is pure: no I/O, no state between calls. Build a Grouper once
// with NewGrouper and call Group for each export; the package-level Group
// is a convenience that builds one per call.
package incident // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/incident"
