package main

// Everything the monitor prints comes from Redis, which anyone who can
// reach the sidecar's OTLP port (or Redis itself) can fill: a job id or a
// traceback line holding "\r", "\n" or an ANSI sequence would otherwise
// move the cursor, rewrite the operator's line, or change the terminal's
// state. Text and terminal modes therefore print such characters as
// visible escapes; --json already escapes C0 controls (encoding/json), and
// jsonEscapeControls adds DEL and C1 there.

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// escapeControls returns s with every character a terminal acts on
// replaced by a Go-style escape, so the text stays on one line and shows
// what was sent: \r \n \t \a \b \f \v for their usual names, \xNN for the
// other C0 controls, DEL and bytes that are not UTF-8 (a byte 0x9b is CSI
// to a terminal in 8-bit mode), \uNNNN for C1 controls, line and paragraph
// separators and bidirectional overrides (which reorder what is shown).
// Backslashes are left alone: readability of Windows paths in tracebacks
// wins over an unambiguous round trip, which --json provides.
func escapeControls(s string) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if needsEscape(r, size) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s // the common case: nothing to escape, no allocation
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !needsEscape(r, size) {
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\a':
			b.WriteString(`\a`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\v':
			b.WriteString(`\v`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size <= 1: // not UTF-8
		return true
	case r < 0x20, r == 0x7f: // C0, DEL
		return true
	case r >= 0x80 && r <= 0x9f: // C1 (CSI, OSC, NEL, ...)
		return true
	case r == 0x2028, r == 0x2029: // line / paragraph separator
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	}
	return false
}

// jsonEscapeControls rewrites DEL, C1 controls and bidi overrides, which
// encoding/json leaves raw inside strings, as \u escapes: still the same
// JSON value, but safe to cat to a terminal. Outside strings JSON is ASCII,
// and encoding/json already escaped C0, U+2028/2029 and invalid UTF-8.
func jsonEscapeControls(b []byte) []byte {
	i := 0
	for i < len(b) {
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x7f && needsEscape(r, size) {
			break
		}
		i += size
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for i < len(b) {
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x7f && needsEscape(r, size) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}
