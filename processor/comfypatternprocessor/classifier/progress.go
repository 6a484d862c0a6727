package classifier

import (
	"regexp"
	"strings"
)

// progressHit is a progress match on one line.
type progressHit struct {
	rule     ruleID
	kind     string
	event    string
	line     string
	n        nums
	numbered bool // carries a count or a percentage
}

func (h *progressHit) fill(r *Result) {
	*r = Result{
		Class:         ClassProgress,
		Rule:          builtinRules[h.rule].Name,
		Message:       h.line,
		ProgressKind:  h.kind,
		ProgressEvent: h.event,
		Current:       h.n.current,
		Total:         h.n.total,
		Percent:       h.n.percent,
		Rate:          h.n.rate,
		RateUnit:      h.n.rateUnit,
		Elapsed:       h.n.elapsed,
		Remaining:     h.n.remaining,
		HasCurrent:    h.n.hasCurrent,
		HasTotal:      h.n.hasTotal,
		HasPercent:    h.n.hasPercent,
		HasRate:       h.n.hasRate,
		HasElapsed:    h.n.hasElapsed,
		HasRemaining:  h.n.hasRemaining,
	}
	setPercent(r)
}

var (
	// Load verb near a model noun, or a model noun followed by "loaded from/to".
	// Only run on lines holding "oad" and none of the negations.
	modelLoadRe = regexp.MustCompile(`(?:^|[^\w])(?:[Ll]oad(?:s|ing|ed)?|LOADING)\b[^\n]{0,60}?\b(?:[Mm]odels?|[Cc]heckpoints?|weights|state_dict|motion module|pipeline|pretrained|CLIP|VAE|LoRA|[Ee]ncoder|shards?|UNet)\b` +
		`|\b(?:[Mm]odel|[Cc]heckpoint|weights|state_dict)\b[^\n]{0,30}?\b(?:loaded|loading)\s+(?:from|to|done|in)\b`)
	// "step 3 of 20", "Processing image 2 of 8": a unit of work, then N of M.
	countOfRe = regexp.MustCompile(`\b(?i:steps?|frames?|images?|batch(?:es)?|tiles?|chunks?|epochs?|iterations?|segments?|items?|files?|videos?|parts?|samples?|prompts?|nodes?|shards?)\s+(\d+)\s+of\s+(\d+)\b`)
	// Work announced with its total: "Start infer 1 images."
	workTotalRe = regexp.MustCompile(`\b[Ss]tart(?:ing)?\s+(?:infer\w*|generat\w*|process\w*|render\w*|sampl\w*|upscal\w*)\s+(?:of\s+)?(\d+)\s+(?:images?|frames?|videos?|samples?|items?|batch(?:es)?)\b`)
)

// progressLine evaluates the built-in progress rules on one cleaned line.
func (c *Classifier) progressLine(line string, m kwMask) (progressHit, bool) {
	on := &c.on
	if m&kLife != 0 && on[rLifecycle] {
		// Glued prints ("Prompt executed in 0.00 secondsgot prompt"): the last one is live.
		best, ev := -1, ""
		for _, e := range lifecycleEvents {
			if m&e.bit == 0 {
				continue
			}
			if i := strings.LastIndex(line, e.text); i > best {
				best, ev = i, e.event
			}
		}
		if best >= 0 {
			return progressHit{rule: rLifecycle, kind: "lifecycle", event: ev, line: line}, true
		}
	}
	warn := m&kWarn != 0
	if on[rTqdm] && (m&(fPercent|kRate) != 0) {
		if n, ok, _ := parseTqdm(line); ok {
			return progressHit{rule: rTqdm, kind: tqdmKind(&n), line: line, n: n, numbered: true}, true
		}
	}
	if m&kFetch != 0 && on[rFetch] {
		h := progressHit{rule: rFetch, kind: "fetch", line: line}
		if cur, tot, _, ok := findFraction(line); ok {
			h.n.current, h.n.total, h.n.hasCurrent, h.n.hasTotal, h.numbered = cur, tot, true, true, true
		} else if strings.Contains(line, "[DONE]") {
			h.event = "fetch_done"
		}
		return h, true
	}
	if m&kModel != 0 && on[rModelLoad] && !warn {
		if ev := modelEvent(line); ev != "" {
			return progressHit{rule: rModelLoad, kind: "model_load", event: ev, line: line}, true
		}
	}
	if m&kDownload != 0 && on[rDownload] && !warn && m&kSkip == 0 {
		h := progressHit{rule: rDownload, kind: "download", event: "download_started", line: line}
		if m&fSlash != 0 {
			if cur, tot, _, ok := findFraction(line); ok {
				h.n.current, h.n.total, h.n.hasCurrent, h.n.hasTotal, h.numbered = cur, tot, true, true, true
				h.event = ""
			}
		}
		return h, true
	}
	if m&fSlash != 0 && on[rFraction] && !warn {
		if cur, tot, sized, ok := findFraction(line); ok {
			h := progressHit{rule: rFraction, kind: fractionKind(line, sized, m), line: line, numbered: true}
			h.n.current, h.n.total, h.n.hasCurrent, h.n.hasTotal, h.n.sizes = cur, tot, true, true, sized
			return h, true
		}
	}
	if m&kOf != 0 && on[rFraction] && !warn {
		if sm := countOfRe.FindStringSubmatchIndex(line); sm != nil {
			cur, _, ok1 := parseScaled(line[sm[2]:sm[3]])
			tot, _, ok2 := parseScaled(line[sm[4]:sm[5]])
			if ok1 && ok2 && tot > 0 && cur <= tot {
				h := progressHit{rule: rFraction, kind: fractionKind(line, false, m), line: line, numbered: true}
				h.n.current, h.n.total, h.n.hasCurrent, h.n.hasTotal = cur, tot, true, true
				return h, true
			}
		}
	}
	if m&fPercent != 0 && on[rPercent] && !warn && m&kMemWord == 0 {
		if p, ok := findPercent(line); ok {
			kind := "percent"
			if m&kDownload != 0 {
				kind = "download"
			}
			h := progressHit{rule: rPercent, kind: kind, line: line, numbered: true}
			h.n.percent, h.n.hasPercent = p, true
			return h, true
		}
	}
	if m&kLoad != 0 && on[rModelLoad] && !warn && m&kNegLoad == 0 && modelLoadRe.MatchString(line) {
		ev := "model_loading"
		if strings.Contains(line, "loaded") || strings.Contains(line, "Loaded") || strings.Contains(line, " done") {
			ev = "model_loaded"
		}
		return progressHit{rule: rModelLoad, kind: "model_load", event: ev, line: line}, true
	}
	if m&kStart != 0 && on[rWorkTotal] {
		if sm := workTotalRe.FindStringSubmatchIndex(line); sm != nil {
			h := progressHit{rule: rWorkTotal, kind: "count", event: "work_started", line: line, numbered: true}
			if v, _, ok := parseScaled(line[sm[2]:sm[3]]); ok {
				h.n.total, h.n.hasTotal = v, true
			}
			return h, true
		}
	}
	return progressHit{}, false
}

var lifecycleEvents = [...]struct {
	bit         kwMask
	text, event string
}{
	{kLifeStart, "got prompt", "prompt_started"},
	{kLifeExec, "Prompt executed in", "prompt_executed"},
	{kLifeStop, "Processing interrupted", "interrupted"},
}

// modelEvent names the model-load event of a line holding a kModel keyword.
func modelEvent(line string) string {
	switch {
	case strings.Contains(line, "Requested to load"):
		return "model_load_requested"
	case strings.Contains(line, "new model"):
		if strings.Contains(line, "Loading") || strings.Contains(line, "loading") {
			return "model_loading"
		}
		return ""
	case strings.Contains(line, "loading in lowvram mode"):
		return "model_loading"
	case strings.Contains(line, "loaded completely"), strings.Contains(line, "loaded partially"), strings.Contains(line, "loaded straight to"):
		return "model_loaded"
	}
	return ""
}

// tqdmKind guesses what a tqdm bar measures from its description and units.
func tqdmKind(n *nums) string {
	d := n.desc
	switch {
	case n.sizes || strings.HasSuffix(n.rateUnit, "B/s") || looksLikeFileName(d) ||
		strings.HasPrefix(d, "Download") || strings.HasPrefix(d, "Fetching"):
		return "download"
	case strings.Contains(d, "Loading") || strings.Contains(d, "loading") || strings.Contains(d, "Load "):
		return "model_load"
	case d == "" || strings.Contains(d, "ampl") || strings.Contains(d, "tep") || strings.Contains(d, "enois"):
		return "sampling"
	}
	return "task"
}

// looksLikeFileName: "res101.pth", "config.json" (huggingface_hub names its
// download bars after the file).
func looksLikeFileName(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t") {
		return false
	}
	dot := strings.LastIndexByte(s, '.')
	if dot <= 0 || dot == len(s)-1 || len(s)-dot > 13 {
		return false
	}
	for i := dot + 1; i < len(s); i++ {
		if !isIdent(s[i]) {
			return false
		}
	}
	return true
}

func fractionKind(line string, sized bool, m kwMask) string {
	switch {
	case sized || m&kDownload != 0 || strings.Contains(line, "ownload"):
		return "download"
	case strings.Contains(line, "tep"), strings.Contains(line, "ampl"):
		return "sampling"
	}
	return "count"
}
