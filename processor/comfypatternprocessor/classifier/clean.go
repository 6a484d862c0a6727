package classifier

import (
	"strings"
	"sync"
)

// Cleaning turns a raw record into the text the rules see:
//   - ANSI escape sequences are removed (colour codes must not break matching);
//   - CRLF and bare CR: every physical line keeps only its last meaningful
//     carriage-return state (tqdm redraws a bar with '\r'); see pickState;
//   - a timestamp prefix ("[2024-06-17 13:15] ", "[2025-07-07 08:50:45.927] ",
//     "2024-06-17 13:15:00,123 ") and a Python logging prefix ("ERROR:root:")
//     are removed from the start of every line;
//   - a timestamp glued into the middle of a line (two prints racing without a
//     newline) starts a new line.
//
// The common case (one plain line, maybe a timestamp prefix) is a substring of
// the input and costs no allocation. Otherwise the cleaned text is built in a
// pooled buffer; the classifier copies out only what it returns.

type scratch struct {
	buf []byte
}

var scratchPool = sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 1024)} }}

// needsRebuild reports whether text needs more than prefix trimming.
func needsRebuild(text string) bool {
	// IndexByte is vectorised: a few calls beat one byte loop.
	if strings.IndexByte(text, '\n') >= 0 || strings.IndexByte(text, '\r') >= 0 || strings.IndexByte(text, '\x1b') >= 0 {
		return true
	}
	for off := 1; off < len(text); {
		j := strings.IndexByte(text[off:], '[')
		if j < 0 {
			break
		}
		if timestampLen(text[off+j:]) > 0 {
			return true
		}
		off += j + 1
	}
	for off := 0; off < len(text); {
		j := strings.IndexByte(text[off:], ']')
		if j < 0 {
			break
		}
		if gluedAfterBar(text, off+j) {
			return true
		}
		off += j + 1
	}
	// an ISO timestamp glued to the text before it: "25/922025-07-29T04:11:00"
	for off := 11; off < len(text); {
		j := strings.IndexByte(text[off:], 'T')
		if j < 0 {
			break
		}
		if timestampLen(text[off+j-10:]) > 0 {
			return true
		}
		off += j + 1
	}
	return false
}

// clean returns the cleaned text. When it had to build the text, the result
// aliases s.buf and is only valid until s is reused.
func clean(text string, s *scratch) (cleaned string, built bool) {
	if !needsRebuild(text) {
		return trimLinePrefix(text), false
	}
	return rebuild(text, s), true
}

// rebuild builds the cleaned text of a record that needsRebuild in s.buf.
func rebuild(text string, s *scratch) string {
	out := s.buf[:0]
	rest := text
	first := true
	for {
		line := rest
		nl := strings.IndexByte(rest, '\n')
		if nl >= 0 {
			line = rest[:nl]
		}
		line = pickState(line)
		// A glued timestamp in the middle of a line starts a new line.
		for {
			line = trimLinePrefix(line)
			cut := gluedTimestamp(line)
			if cut < 0 {
				break
			}
			if !first {
				out = append(out, '\n')
			}
			first = false
			out = appendStripANSI(out, line[:cut])
			line = line[cut:]
		}
		if !first {
			out = append(out, '\n')
		}
		first = false
		out = appendStripANSI(out, line)
		if nl < 0 {
			break
		}
		rest = rest[nl+1:]
	}
	s.buf = out
	return unsafeString(out)
}

// pickState chooses the carriage-return state of one physical line that
// counts. tqdm rewrites its bar with '\r'; a log line often holds several
// states and, when the file was cut or a print raced, the last state is a
// truncated bar ("100%|████| 20/"). We take the last non-blank state, except
// that a truncated bar defers to the previous complete one.
func pickState(line string) string {
	if strings.IndexByte(line, '\r') < 0 {
		return line
	}
	fallback := ""
	end := len(line)
	for {
		start := strings.LastIndexByte(line[:end], '\r') + 1
		st := line[start:end]
		if start == 0 {
			// Before the first '\r' there is usually only the timestamp.
			st = trimLinePrefix(st)
		}
		if !isBlank(st) {
			if fallback == "" {
				fallback = st
			}
			if !looksLikeTruncatedBar(st) {
				return st
			}
		}
		if start == 0 {
			return fallback
		}
		end = start - 1
	}
}

// looksLikeTruncatedBar: a tqdm state that shows a bar ("NN%|") but lacks the
// closing stats bracket, i.e. the line was cut mid-redraw.
func looksLikeTruncatedBar(s string) bool {
	i := strings.Index(s, "%|")
	if i < 0 {
		return false
	}
	rest := s[i+2:]
	j := strings.IndexByte(rest, '|')
	if j < 0 {
		return true
	}
	rest = rest[j+1:]
	return strings.IndexByte(rest, ']') < 0
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n', '\v', '\f':
		default:
			return false
		}
	}
	return true
}

// appendStripANSI appends s without ANSI escape sequences (CSI "ESC [ ... final",
// OSC "ESC ] ... BEL|ESC \", and two-byte "ESC x").
func appendStripANSI(out []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, '\x1b')
		if i < 0 {
			return append(out, s...)
		}
		out = append(out, s[:i]...)
		s = s[i+1:]
		if len(s) == 0 {
			return out
		}
		switch s[0] {
		case '[':
			j := 1
			for j < len(s) && !(s[j] >= 0x40 && s[j] <= 0x7e) {
				j++
			}
			if j < len(s) {
				j++
			}
			s = s[j:]
		case ']':
			j := 1
			for j < len(s) && s[j] != '\a' && !(s[j] == '\x1b' && j+1 < len(s) && s[j+1] == '\\') {
				j++
			}
			if j < len(s) && s[j] == '\x1b' {
				j++
			}
			if j < len(s) {
				j++
			}
			s = s[j:]
		default:
			s = s[1:]
		}
	}
}

// trimLinePrefix removes leading timestamps and a Python logging prefix
// ("ERROR:root:", "WARNING:tensorflow:") from one line.
func trimLinePrefix(line string) string {
	stamped := false
	for {
		n := timestampLen(line)
		if n == 0 {
			break
		}
		line, stamped = line[n:], true
	}
	if stamped && strings.HasPrefix(line, "- ") {
		line = line[2:] // "2025-07-29T04:11:00.461859 - message"
	}
	if n := launcherPrefixLen(line); n > 0 {
		line = line[n:]
	}
	if n := loggingPrefixLen(line); n > 0 {
		line = line[n:]
	}
	if len(line) >= 3 && line[0] == '[' && line[1] == '!' && line[2] == ']' {
		// ComfyUI-Manager prints a subprocess's stderr as "[!] ...".
		line = strings.TrimLeft(line[3:], " ")
	}
	return line
}

// launcherPrefixLen matches what launchers put before ComfyUI's own text:
// SwarmUI's "12:00:00.000 [Warning] [ComfyUI-0/STDERR] " (a level word in a
// prefix is not a verdict: SwarmUI tags all of stderr as a warning).
func launcherPrefixLen(s string) int {
	i := 0
	// optional clock "HH:MM:SS(.mmm) "
	if len(s) >= 9 && isDigit(s[0]) && isDigit(s[1]) && s[2] == ':' && isDigit(s[3]) && isDigit(s[4]) && s[5] == ':' && isDigit(s[6]) && isDigit(s[7]) {
		j := 8
		if j < len(s) && s[j] == '.' {
			j++
			for j < len(s) && isDigit(s[j]) {
				j++
			}
		}
		if j < len(s) && s[j] == ' ' {
			i = j + 1
		}
	}
	start := i
	// optional "[Level] "
	if i < len(s) && s[i] == '[' {
		if e := strings.IndexByte(s[i:], ']'); e > 1 && e < 12 && i+e+1 < len(s) && s[i+e+1] == ' ' {
			if isLevelWord(s[i+1 : i+e]) {
				i += e + 2
			}
		}
	}
	// "[Name-0/STDERR] " or "[Name/STDOUT] "
	if i < len(s) && s[i] == '[' {
		if e := strings.IndexByte(s[i:], ']'); e > 0 {
			tag := s[i+1 : i+e]
			if strings.HasSuffix(tag, "/STDERR") || strings.HasSuffix(tag, "/STDOUT") {
				n := i + e + 1
				if n < len(s) && s[n] == ' ' {
					n++
				}
				return n
			}
		}
	}
	if i > start && start > 0 {
		return i // "12:00:00.000 [Info] message"
	}
	return 0
}

func isLevelWord(w string) bool {
	switch w {
	case "Debug", "Info", "Init", "Warning", "Error", "Verbose", "DEBUG", "INFO", "WARNING", "ERROR":
		return true
	}
	return false
}

// timestampLen returns the length of a timestamp prefix at the start of s
// ("[2024-06-17 13:15] ", "[2025-07-07 08:50:45.927] ", "2024-06-17 13:15:00,123 ",
// "2024-06-17T13:15:00Z "), including one following space, or 0.
func timestampLen(s string) int {
	i := 0
	bracket := false
	if len(s) > 0 && s[0] == '[' {
		bracket = true
		i = 1
	}
	// YYYY-MM-DD
	if len(s) < i+10 || !digits(s[i:i+4]) || s[i+4] != '-' || !digits(s[i+5:i+7]) || s[i+7] != '-' || !digits(s[i+8:i+10]) {
		return 0
	}
	i += 10
	// [ T]HH:MM
	if len(s) < i+6 || (s[i] != ' ' && s[i] != 'T') || !digits(s[i+1:i+3]) || s[i+3] != ':' || !digits(s[i+4:i+6]) {
		return 0
	}
	i += 6
	// optional :SS, fraction, zone
	if len(s) >= i+3 && s[i] == ':' && digits(s[i+1:i+3]) {
		i += 3
		// fraction: ".927", ",123", or ":983" (a logger that formats the
		// milliseconds with a colon)
		if i < len(s) && (s[i] == '.' || s[i] == ',' || (s[i] == ':' && i+1 < len(s) && isDigit(s[i+1]))) {
			i++
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
		}
		if i < len(s) && s[i] == 'Z' {
			i++
		}
	}
	if bracket {
		if i >= len(s) || s[i] != ']' {
			return 0
		}
		i++
	} else if i < len(s) && s[i] != ' ' {
		return 0
	}
	if i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// gluedTimestamp returns the index of a bracketed timestamp that is not at
// the start of line, or -1.
// gluedAfterBar reports whether text[i] (a ']') closes a tqdm stats bracket
// ("…it/s]", "…s/it]", "…B/s]") and another print is glued right after it:
// "  0%|          | 0/30 [00:00<?, ?it/s]FETCH ComfyRegistry Data: 5/92".
func gluedAfterBar(text string, i int) bool {
	if i+1 >= len(text) || i < 3 {
		return false
	}
	switch text[i+1] {
	case ' ', '\t', '\r', '\n', ',', ']', '[':
		return false
	}
	before := text[:i]
	return strings.HasSuffix(before, "/s") || strings.HasSuffix(before, "/it")
}

func gluedTimestamp(line string) int {
	for i := strings.IndexByte(line, ']'); i >= 0; {
		if gluedAfterBar(line, i) {
			if t := gluedTimestampOnly(line[:i+1]); t >= 0 {
				return t
			}
			return i + 1
		}
		j := strings.IndexByte(line[i+1:], ']')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return gluedTimestampOnly(line)
}

func gluedTimestampOnly(line string) int {
	// ISO form without brackets, glued to what precedes it (ComfyUI's
	// logger writes "2025-07-29T04:11:00.461859 - " line prefixes; a print
	// without newline before it leaves "…25/922025-07-29T04:11:00.461859").
	for off := 11; off < len(line); {
		j := strings.IndexByte(line[off:], 'T')
		if j < 0 {
			break
		}
		at := off + j - 10
		if timestampLen(line[at:]) > 0 {
			if b := gluedBracketTimestamp(line[:at]); b >= 0 {
				return b
			}
			return at
		}
		off += j + 1
	}
	return gluedBracketTimestamp(line)
}

func gluedBracketTimestamp(line string) int {
	off := 1
	for off < len(line) {
		j := strings.IndexByte(line[off:], '[')
		if j < 0 {
			return -1
		}
		at := off + j
		if timestampLen(line[at:]) > 0 {
			return at
		}
		off = at + 1
	}
	return -1
}

var loggingLevels = [...]string{"ERROR:", "WARNING:", "INFO:", "DEBUG:", "CRITICAL:"}

// loggingPrefixLen matches Python's default logging format "LEVEL:logger:"
// and the common "%(name)s - %(levelname)s - " format ("root - WARNING - ").
func loggingPrefixLen(s string) int {
	if n := dashLoggingPrefixLen(s); n > 0 {
		return n
	}
	if len(s) < 6 || s[0] < 'C' || s[0] > 'W' {
		return 0
	}
	for _, lv := range loggingLevels {
		if strings.HasPrefix(s, lv) {
			rest := s[len(lv):]
			j := 0
			for j < len(rest) && (isIdent(rest[j]) || rest[j] == '.') {
				j++
			}
			if j > 0 && j < len(rest) && rest[j] == ':' {
				return len(lv) + j + 1
			}
			return 0
		}
	}
	return 0
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

func isIdent(b byte) bool {
	return b == '_' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

var dashLevels = [...]string{" - ERROR - ", " - WARNING - ", " - INFO - ", " - DEBUG - ", " - CRITICAL - "}

// dashLoggingPrefixLen: "root - WARNING - " (logger names are identifiers
// with dots; a bracketed custom-node tag is kept: it is part of the message).
func dashLoggingPrefixLen(s string) int {
	j := 0
	for j < len(s) && (isIdent(s[j]) || s[j] == '.') {
		j++
	}
	if j == 0 || j+3 >= len(s) || s[j] != ' ' || s[j+1] != '-' || s[j+2] != ' ' {
		return 0
	}
	for _, lv := range dashLevels {
		if strings.HasPrefix(s[j:], lv) {
			return j + len(lv)
		}
	}
	return 0
}
