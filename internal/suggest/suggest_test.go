package suggest

import "testing"

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"fsat", "fast", 1}, {"ab", "ba", 1},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	valid := []string{"validate", "plan", "run", "state", "version"}
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"rnu", "run", true}, {"Plan", "plan", true}, {"valdiate", "validate", true}, {"xyz", "", false}, {"", "", false},
	}
	for _, tt := range tests {
		got, ok := Closest(tt.in, valid)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Closest(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
