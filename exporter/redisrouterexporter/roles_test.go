package redisrouterexporter

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The role table finds exactly the names it was built with, including names
// that share length and the bytes the hash reads, and nothing else.
func TestRoleTable(t *testing.T) {
	roles := map[string]attrRole{"": {class: true}}
	for i := 0; i < 200; i++ {
		// Same length, first, middle and last byte: all collide.
		roles[fmt.Sprintf("a%03db", i)] = attrRole{field: comfyField(i % 15)}
	}
	for name, f := range comfyFieldByName {
		roles[name] = attrRole{field: f}
	}
	tbl := newRoleTable(roles)
	for name, want := range roles {
		got := tbl.get(name)
		if name == "" {
			assert.Nil(t, got, "the empty name is never looked up")
			continue
		}
		require.NotNil(t, got, name)
		assert.Equal(t, want.field, got.field, name)
	}
	for _, name := range []string{"a", "a000c", "a1000b", "comfy.progress", "comfy.progress.currenT", "x", "comfy.message "} {
		assert.Nil(t, tbl.get(name), name)
	}
	assert.Nil(t, newRoleTable(nil).get("job.id"), "an empty table finds nothing")
}
