package classifier

import "testing"

// Two whole tracebacks in a row are two failures; a traceback after a
// banner continues the banner.
func TestWholeTracebackDoesNotContinueAWholeTraceback(t *testing.T) {
	c, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	tb := func(id string) string {
		return "Traceback (most recent call last):\n  File \"/comfyui/execution.py\", line 151, in recursive_execute\n    output_data, output_ui = get_output_data(obj, input_data_all)\nRuntimeError: e2e failure " + id
	}
	var st SourceState
	var res Result
	for i, tc := range []struct {
		text      string
		continues bool
	}{
		{tb("a"), false},
		{tb("b"), false},
		{"!!! Exception during processing !!! CUDA out of memory. Tried to allocate 2.00 GiB.", false},
		{tb("c"), true},
		{"During handling of the above exception, another exception occurred:\nTraceback (most recent call last):\n  File \"x.py\", line 2, in g\nValueError: d", true},
	} {
		c.ClassifyRecord(&Record{Text: tc.text}, &st, &res)
		if res.Class != ClassFailure || res.Continues != tc.continues {
			t.Errorf("record %d: class %s rule %s continues %v, want failure continues %v", i, res.Class, res.Rule, res.Continues, tc.continues)
		}
	}
}
