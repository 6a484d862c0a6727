package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import "math/bits"

// roleTable maps an attribute name to its attrRole. It is looked up for
// every attribute of every record, which made a Go map ~15% of the
// exporter's planning cost; the names are few and fixed at start, so an
// open-addressed table at most 1/4 full, indexed by the name's length and
// three of its bytes and confirmed by one string compare, does it for less.
type roleTable struct {
	mask  uint32
	names []string // "" marks a free slot
	roles []attrRole
}

func roleHash(k string) uint32 {
	n := len(k)
	return uint32(n)*0x9E3779B1 ^ uint32(k[0])*0x85EBCA77 ^ uint32(k[n-1])*0xC2B2AE3D ^ uint32(k[n/2])*0x27D4EB2F
}

func newRoleTable(roles map[string]attrRole) *roleTable {
	size := 1 << bits.Len(uint(4*len(roles)))
	t := &roleTable{mask: uint32(size - 1), names: make([]string, size), roles: make([]attrRole, size)}
	for name, r := range roles {
		if name == "" {
			continue // no record attribute is looked up by an empty name
		}
		i := roleHash(name) & t.mask
		for t.names[i] != "" {
			i = (i + 1) & t.mask
		}
		t.names[i], t.roles[i] = name, r
	}
	return t
}

// get returns the role of attribute k, nil when k means nothing here.
func (t *roleTable) get(k string) *attrRole {
	if k == "" {
		return nil
	}
	for i := roleHash(k) & t.mask; ; i = (i + 1) & t.mask {
		switch t.names[i] {
		case k:
			return &t.roles[i]
		case "":
			return nil
		}
	}
}
