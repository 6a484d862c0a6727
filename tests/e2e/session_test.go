package e2e

import (
	"regexp"
	"strconv"
	"strings"
)

const tracebackHeader = "Traceback (most recent call last)"

// sessionTraceback is one traceback of a session log: where its header is
// and the exception line that ends it.
type sessionTraceback struct {
	line      int // 1-based
	exception string
}

// sessionTracebacks finds every traceback header and its exception line (the
// first later line that is neither indented, empty, nor another header),
// with ANSI, \r and ComfyUI's timestamp prefix removed.
func sessionTracebacks(lines []string) []sessionTraceback {
	var out []sessionTraceback
	for i, l := range lines {
		if !strings.Contains(l, tracebackHeader) {
			continue
		}
		tb := sessionTraceback{line: i + 1}
		for j := i + 1; j < len(lines) && j < i+400; j++ {
			c := strings.TrimRight(stripTS(strings.TrimRight(ansiRE.ReplaceAllString(lines[j], ""), "\r\n")), "\r ")
			if c == "" || c[0] == ' ' || c[0] == '\t' {
				continue
			}
			if strings.Contains(c, tracebackHeader) {
				break
			}
			tb.exception = strings.TrimSpace(c)
			break
		}
		out = append(out, tb)
	}
	return out
}

var barRE = regexp.MustCompile(`(\d+)/(\d+) \[`)

// sessionFinalBars returns the finished tqdm bars of a session ("20/20 ["),
// counted per (current, total); the last \r state of each line counts.
func sessionFinalBars(lines []string) map[string]int {
	out := map[string]int{}
	for _, l := range lines {
		for _, st := range strings.Split(strings.TrimRight(l, "\r\n"), "\r") {
			m := barRE.FindStringSubmatch(st)
			if m == nil || m[1] != m[2] {
				continue
			}
			out[m[1]+"/"+m[2]]++
		}
	}
	return out
}

func countLinesContaining(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func fstr(f *float64) string {
	if f == nil {
		return "nil"
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}
