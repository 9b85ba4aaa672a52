package stage

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
)

// PartitionID names a partition: the first 16 bytes of sha256(pipeline NUL runLabel NUL key), in hex.
// It leaves the spec out on purpose: output files are named after the id, so editing a pipeline must replace
// its partitions in place, never write a second copy beside the first (the spec's fingerprint tracks changes).
// Committed state and output are named after it, so its value must never change.
func PartitionID(pipeline, runLabel, key string) string {
	h := sha256.New()
	io.WriteString(h, pipeline)
	h.Write([]byte{0})
	io.WriteString(h, runLabel)
	h.Write([]byte{0})
	io.WriteString(h, key)
	return hex.EncodeToString(h.Sum(nil)[:16])
}
