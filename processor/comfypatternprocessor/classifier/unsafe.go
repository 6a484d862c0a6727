package classifier

import "unsafe"

// unsafeString views b as a string without copying. Only used for the pooled
// cleaning buffer; anything returned to callers is copied (see finish).
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// offsetIn reports whether s lies inside within and at which offset.
func offsetIn(s, within string) (int, bool) {
	if len(s) == 0 || len(within) == 0 {
		return 0, false
	}
	sp := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	wp := uintptr(unsafe.Pointer(unsafe.StringData(within)))
	if sp < wp || sp+uintptr(len(s)) > wp+uintptr(len(within)) {
		return 0, false
	}
	return int(sp - wp), true
}
