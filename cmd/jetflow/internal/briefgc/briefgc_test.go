package briefgc

import "testing"

func TestFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   []string
		gogc   string
		want   int
		wantOK bool
	}{
		{[]string{"validate", "p.yaml"}, "", Percent, true},
		{[]string{"plan", "p.yaml"}, "", Percent, true},
		{[]string{"version"}, "", Percent, true},
		{[]string{"run", "p.yaml"}, "", 0, false},    // moves data: the default collector
		{[]string{"ui", "pipelines/"}, "", 0, false}, // serves for as long as it runs
		{[]string{"validate", "p.yaml"}, "50", 0, false},
		{[]string{"valdiate"}, "", 0, false},
		{nil, "", 0, false},
	}
	for _, tt := range tests {
		getenv := func(k string) string {
			if k == "GOGC" {
				return tt.gogc
			}
			return ""
		}
		got, ok := For(tt.args, getenv)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("For(%q) with GOGC=%q = %d, %v; want %d, %v", tt.args, tt.gogc, got, ok, tt.want, tt.wantOK)
		}
	}
}
