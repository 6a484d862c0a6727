package classifier

import (
	"strconv"
	"strings"
)

// Hand-written parsers for the numeric shapes of progress output. They run
// only after the keyword scan saw '%', '/' or a tqdm stats bracket, and they
// never allocate.

// nums is the numeric part of a progress line.
type nums struct {
	current, total, percent, rate, elapsed, remaining     float64
	hasCurrent, hasTotal, hasPercent, hasRate, hasElapsed bool
	hasRemaining, sizes                                   bool
	rateUnit                                              string
	desc                                                  string // tqdm description ("Loading checkpoint shards")
}

// parseTqdm parses a tqdm state:
//
//	[desc: ]NN%|bar| n/total [elapsed<remaining, rate[, postfix]]
//	[desc: ]n[unit] [elapsed, rate]                 (unknown total: "0it [00:00, ?it/s]")
//
// n and total may be floats ("70.0") or scaled sizes ("531M", "4.60k").
// complete is false when the state was cut before its stats bracket.
func parseTqdm(s string) (n nums, ok, complete bool) {
	if i := strings.Index(s, "%|"); i >= 0 {
		// percentage, read backwards
		j := i
		for j > 0 && (isDigit(s[j-1]) || s[j-1] == '.') {
			j--
		}
		if j == i {
			return n, false, false
		}
		pct, err := strconv.ParseFloat(s[j:i], 64)
		if err != nil || pct > 100 {
			return n, false, false
		}
		n.percent, n.hasPercent = pct, true
		desc := strings.TrimSpace(s[:j])
		desc = strings.TrimSuffix(desc, ":")
		n.desc = strings.TrimSpace(desc)
		rest := s[i+2:]
		k := strings.IndexByte(rest, '|')
		if k < 0 {
			return n, true, false
		}
		rest = strings.TrimLeft(rest[k+1:], " ")
		cur, tot, sized, m := parseFractionAt(rest)
		if m > 0 {
			n.current, n.hasCurrent = cur, true
			if tot >= 0 {
				n.total, n.hasTotal = tot, true
			}
			n.sizes = sized
			rest = rest[m:]
		} else {
			return n, true, false
		}
		b := strings.IndexByte(rest, '[')
		if b < 0 || !isBlank(rest[:b]) {
			return n, true, false
		}
		return n, true, parseStats(rest[b+1:], &n)
	}
	// Unknown total: "<n><unit> [<elapsed>, <rate>]".
	b := strings.Index(s, " [")
	for b >= 0 {
		stats := s[b+2:]
		if len(stats) >= 5 && isDigit(stats[0]) && (stats[2] == ':' || stats[1] == ':') {
			// "[desc: ][NN% ]n/total [..]": tqdm without bar glyphs (a
			// non-unicode console, or ncols too small for the bar).
			start := strings.LastIndexByte(s[:b], ' ') + 1
			if cur, tot, sized, m := parseFractionAt(s[start:b]); m == b-start && m > 0 {
				n.current, n.hasCurrent, n.sizes = cur, true, sized
				if tot >= 0 {
					n.total, n.hasTotal = tot, true
				}
				d := strings.TrimRight(s[:start], " ")
				if strings.HasSuffix(d, "%") {
					p := strings.LastIndexByte(d, ' ') + 1
					if v, err := strconv.ParseFloat(d[p:len(d)-1], 64); err == nil && v >= 0 && v <= 100 {
						n.percent, n.hasPercent = v, true
						d = strings.TrimRight(d[:p], " ")
					}
				}
				n.desc = strings.TrimSpace(strings.TrimSuffix(d, ":"))
				return n, true, parseStats(stats, &n)
			}
			// read "<n><unit>" backwards from b
			j := b
			for j > 0 && isLetter(s[j-1]) {
				j--
			}
			unit := s[j:b]
			k := j
			for k > 0 && (isDigit(s[k-1]) || s[k-1] == '.') {
				k--
			}
			if k < j && (k == 0 || !isIdent(s[k-1])) && len(unit) <= 4 {
				v, _, ok := parseScaled(s[k:j])
				if ok {
					if len(unit) >= 2 && isScaleLetter(unit[0]) {
						m, _ := scaleOf(unit[0])
						v *= m
					}
					n.current, n.hasCurrent = v, true
					n.sizes = strings.HasSuffix(unit, "B")
					d := strings.TrimSpace(s[:k])
					n.desc = strings.TrimSpace(strings.TrimSuffix(d, ":"))
					return n, true, parseStats(stats, &n)
				}
			}
		}
		nb := strings.Index(s[b+2:], " [")
		if nb < 0 {
			break
		}
		b += 2 + nb
	}
	return n, false, false
}

// parseStats parses "elapsed<remaining, rate[, postfix]]" or "elapsed, rate]".
func parseStats(s string, n *nums) bool {
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return false
	}
	s = s[:end]
	comma := strings.IndexByte(s, ',')
	times, rate := s, ""
	if comma >= 0 {
		times, rate = s[:comma], strings.TrimSpace(s[comma+1:])
		if c2 := strings.IndexByte(rate, ','); c2 >= 0 {
			rate = rate[:c2]
		}
	}
	el, rem := times, ""
	if lt := strings.IndexByte(times, '<'); lt >= 0 {
		el, rem = times[:lt], times[lt+1:]
	}
	if v, ok := parseClock(strings.TrimSpace(el)); ok {
		n.elapsed, n.hasElapsed = v, true
	}
	if v, ok := parseClock(strings.TrimSpace(rem)); ok {
		n.remaining, n.hasRemaining = v, true
	}
	parseRate(rate, n)
	return true
}

// parseRate handles "15.16it/s", "21.03s/it", "1.85MB/s", "629kB/s", "?it/s".
func parseRate(s string, n *nums) {
	i := 0
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	if i == 0 {
		return
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return
	}
	unit := s[i:]
	if strings.HasPrefix(unit, "s/") {
		// tqdm shows slow rates inverted: "21.03s/it" is 1/21.03 it/s.
		if v == 0 {
			return
		}
		v = 1 / v
		unit = unit[2:] + "/s"
	}
	if len(unit) > 3 && strings.HasSuffix(unit, "/s") {
		if m, ok := scaleOf(unit[0]); ok && unit[1] != '/' {
			// "MB/s" -> B/s; "kit/s" -> it/s
			v *= m
			unit = unit[1:]
			if unit[0] == 'i' && len(unit) > 1 && unit[1] == 'B' { // "MiB/s"
				unit = unit[1:]
			}
		}
	}
	if unit == "" {
		return
	}
	n.rate, n.hasRate, n.rateUnit = v, true, unit
}

// parseClock parses tqdm durations "MM:SS", "H:MM:SS", "D days, H:MM:SS"
// is not produced inside the bracket, so two or three fields suffice.
func parseClock(s string) (float64, bool) {
	if s == "" || s == "?" {
		return 0, false
	}
	total := 0.0
	fields := 0
	for len(s) > 0 {
		c := strings.IndexByte(s, ':')
		part := s
		if c >= 0 {
			part, s = s[:c], s[c+1:]
		} else {
			s = ""
		}
		if !digits(part) {
			return 0, false
		}
		v, _ := strconv.Atoi(part)
		total = total*60 + float64(v)
		fields++
	}
	return total, fields >= 2
}

// parseFractionAt parses "n/total" at the start of s (sizes allowed:
// "531M/531M", "190.6/190.6 kB", "5/?"). It returns the byte length consumed
// (0 if none); total is -1 when shown as '?'.
func parseFractionAt(s string) (cur, tot float64, sized bool, length int) {
	i := 0
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, 0, false, 0
	}
	j := i
	if j < len(s) && isScaleLetter(s[j]) {
		j++
	}
	if j >= len(s) || s[j] != '/' {
		return 0, 0, false, 0
	}
	cur, s1, ok := parseScaled(s[:j])
	if !ok {
		return 0, 0, false, 0
	}
	k := j + 1
	if k < len(s) && s[k] == '?' {
		return cur, -1, s1, k + 1
	}
	m := k
	for m < len(s) && (isDigit(s[m]) || s[m] == '.') {
		m++
	}
	if m == k {
		return 0, 0, false, 0
	}
	if m < len(s) && isScaleLetter(s[m]) {
		m++
	}
	tot, s2, ok := parseScaled(s[k:m])
	if !ok {
		return 0, 0, false, 0
	}
	return cur, tot, s1 || s2, m
}

// parseScaled parses "22", "70.0", "531M", "4.60k", "1.88G".
func parseScaled(s string) (v float64, scaled, ok bool) {
	if s == "" {
		return 0, false, false
	}
	mult := 1.0
	if m, isScale := scaleOf(s[len(s)-1]); isScale {
		mult, scaled = m, true
		s = s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, false
	}
	return f * mult, scaled, true
}

func scaleOf(b byte) (float64, bool) {
	switch b {
	case 'k', 'K':
		return 1e3, true
	case 'M':
		return 1e6, true
	case 'G':
		return 1e9, true
	case 'T':
		return 1e12, true
	case 'P':
		return 1e15, true
	}
	return 0, false
}

func isScaleLetter(b byte) bool { _, ok := scaleOf(b); return ok }

func isDigit(b byte) bool  { return b >= '0' && b <= '9' }
func isLetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

// findFraction finds an "N/M" count in a line that is not part of a path,
// URL, date or version: the numbers must stand alone (preceded by a space,
// '(', '[', ':' or the line start; followed by a space, ')', ']', ',', ':'
// or the end, or by a size unit). current <= total and total > 0.
func findFraction(line string) (cur, tot float64, sized, ok bool) {
	off := 0
	for off < len(line) {
		k := strings.IndexByte(line[off:], '/')
		if k < 0 {
			return 0, 0, false, false
		}
		at := off + k
		off = at + 1
		// walk left over digits, '.', an optional scale letter
		j := at
		if j > 0 && isScaleLetter(line[j-1]) {
			j--
		}
		d := j
		for d > 0 && (isDigit(line[d-1]) || line[d-1] == '.') {
			d--
		}
		if d == j || !isDigit(line[d]) {
			continue
		}
		if d > 0 {
			switch line[d-1] {
			case ' ', '\t', '(', '[', ':', '#', '=':
			default:
				continue
			}
		}
		c, t, sz, m := parseFractionAt(line[d:])
		if m == 0 || t < 0 {
			continue
		}
		e := d + m
		if e < len(line) {
			switch line[e] {
			case ' ', '\t', ')', ']', ',', ':', ';':
			case '.':
				if e+1 < len(line) && isDigit(line[e+1]) {
					continue
				}
			default:
				continue
			}
		}
		if t <= 0 || c > t {
			continue
		}
		if !sz && e+1 < len(line) && line[e] == ' ' {
			// "190.6/190.6 kB" (pip/rich bars): a byte unit after the pair.
			u := line[e+1:]
			if len(u) >= 2 && isScaleLetter(u[0]) && (u[1] == 'B' || (u[1] == 'i' && len(u) > 2 && u[2] == 'B')) {
				mult, _ := scaleOf(u[0])
				c, t, sz = c*mult, t*mult, true
			}
		}
		return c, t, sz, true
	}
	return 0, 0, false, false
}

// findPercent finds a standalone "NN%" or "NN.N %" (0..100) in line, or -1.
func findPercent(line string) (float64, bool) {
	off := 0
	for off < len(line) {
		k := strings.IndexByte(line[off:], '%')
		if k < 0 {
			return 0, false
		}
		at := off + k
		off = at + 1
		e := at
		if e > 0 && line[e-1] == ' ' {
			e--
		}
		d := e
		for d > 0 && (isDigit(line[d-1]) || line[d-1] == '.') {
			d--
		}
		if d == e || !isDigit(line[d]) || (d > 0 && (isIdent(line[d-1]) || line[d-1] == '%')) {
			continue
		}
		if at+1 < len(line) && isIdent(line[at+1]) {
			continue // "%20", "%s"
		}
		v, err := strconv.ParseFloat(line[d:e], 64)
		if err != nil || v > 100 {
			continue
		}
		return v, true
	}
	return 0, false
}
