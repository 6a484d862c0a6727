package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// keyTemplate is a parsed channel/stream name such as
// "job:events:{job_id}": literal text (operator-controlled, used as is)
// interleaved with placeholders (record-controlled, always sanitised).
type keyTemplate struct {
	raw   string
	parts []templatePart
	phs   []string // placeholder names in order, precomputed
	phIdx []int    // their indexes in redisExporter.phNames, set by the exporter
}

type templatePart struct {
	literal     string
	placeholder string // set for a placeholder part
}

func parseTemplate(s string) (*keyTemplate, error) {
	if s == "" {
		return nil, fmt.Errorf("empty template")
	}
	t := &keyTemplate{raw: s}
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		closeIdx := strings.IndexByte(rest, '}')
		if open < 0 {
			if closeIdx >= 0 {
				return nil, fmt.Errorf("unmatched '}' in template %q", s)
			}
			t.parts = append(t.parts, templatePart{literal: rest})
			break
		}
		if closeIdx >= 0 && closeIdx < open {
			return nil, fmt.Errorf("unmatched '}' in template %q", s)
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{literal: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed '{' in template %q", s)
		}
		name := rest[open+1 : open+end]
		if !validPlaceholderName(name) {
			return nil, fmt.Errorf("invalid placeholder {%s} in template %q", name, s)
		}
		t.parts = append(t.parts, templatePart{placeholder: name})
		rest = rest[open+end+1:]
	}
	for _, p := range t.parts {
		if p.placeholder != "" {
			t.phs = append(t.phs, p.placeholder)
		}
	}
	return t, nil
}

func (t *keyTemplate) placeholders() []string { return t.phs }

func (t *keyTemplate) uses(ph string) bool {
	for _, p := range t.parts {
		if p.placeholder == ph {
			return true
		}
	}
	return false
}

// render fills the template; lookup returns the already sanitised value of a
// placeholder, or "" when unknown.
func (t *keyTemplate) render(lookup func(string) string) string {
	var b strings.Builder
	b.Grow(len(t.raw) + 32)
	for _, p := range t.parts {
		if p.placeholder == "" {
			b.WriteString(p.literal)
		} else {
			b.WriteString(lookup(p.placeholder))
		}
	}
	return b.String()
}

// hashSuffixLen is how many hex digits of SHA-256 mark a changed value.
const hashSuffixLen = 12

// hashMark separates a sanitised value from the hash of the original. It is
// outside the characters a clean value keeps, so a marked key part never
// equals an unchanged one: "a_b" stays "a_b", "a:b" becomes "a_b~<hash>".
const hashMark = '~'

// sanitizeKeyPart makes a record-supplied value safe inside a Redis key or
// channel name: only [A-Za-z0-9._-] survive; every other rune (':' which is
// our separator, '{' '}' which would change the Cluster hash slot, glob
// characters '*' '?' '[' ']' that would break SCAN/PSUBSCRIBE patterns,
// spaces, control characters, newlines, any non-ASCII letter) and every byte
// of invalid UTF-8 becomes '_'.
//
// Whenever that changed the value, or the value is longer than maxLen and is
// cut, the part ends in '~' and 12 hex digits of SHA-256 of the original
// value: distinct ids never share a key ("a:b", "a/b", "a b" and "a_b" are
// four keys; so are two non-ASCII ids of the same length).
func sanitizeKeyPart(v string, maxLen int) string {
	clean := true
	for i := 0; i < len(v); i++ {
		if !keySafe(v[i]) {
			clean = false
			break
		}
	}
	if clean && len(v) <= maxLen {
		return v
	}
	b := make([]byte, 0, len(v)+1+hashSuffixLen)
	for _, r := range v { // invalid UTF-8 bytes come out as U+FFFD, one per byte
		if r < 0x80 && keySafe(byte(r)) {
			b = append(b, byte(r))
		} else {
			b = append(b, '_')
		}
	}
	if keep := maxLen - hashSuffixLen - 1; len(b) > keep {
		b = b[:keep]
	}
	sum := sha256.Sum256([]byte(v))
	b = append(b, hashMark)
	b = hex.AppendEncode(b, sum[:hashSuffixLen/2])
	return string(b)
}

func keySafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}
