package stage

import "testing"

// The ids are pinned: committed state and output files are named after them, so a change would orphan them.
// (sha256 of "orders\x002026-11-22\x00id[0,100000)", first 16 bytes, computed with sha256sum.)
func TestPartitionIDPinned(t *testing.T) {
	tests := []struct {
		pipeline, run, key, want string
	}{
		{"orders", "2026-11-22", "id[0,100000)", "7b6a49e291c1ba33da1c4f89a47607cf"},
	}
	for _, tt := range tests {
		if got := PartitionID(tt.pipeline, tt.run, tt.key); got != tt.want {
			t.Errorf("PartitionID(%q, %q, %q) = %s, want %s", tt.pipeline, tt.run, tt.key, got, tt.want)
		}
	}
}
