package expr

import "unsafe"

// unsafeBytes views a string's bytes without copying; the hash functions only read them.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
