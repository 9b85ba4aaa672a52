package ui

import (
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
)

// The freshness key is read from the spec by name, so that the pages show it in whichever shape the spec
// declares it: a struct or a pointer, with warn_after a stage.Duration or a pointer to one.
func TestFreshnessAgainstWarnAfter(t *testing.T) {
	type freshnessSpec struct{ WarnAfter stage.Duration }
	type withValue struct{ Freshness freshnessSpec }
	type withPointer struct{ Freshness *freshnessSpec }
	type withDurationPointer struct {
		Freshness struct{ WarnAfter *stage.Duration }
	}
	d := stage.Duration(30 * time.Hour)
	for _, tt := range []struct {
		name string
		spec any
		want time.Duration
	}{
		{"no key", struct{ Name string }{"x"}, 0},
		{"value", withValue{freshnessSpec{d}}, 30 * time.Hour},
		{"pointer", withPointer{&freshnessSpec{d}}, 30 * time.Hour},
		{"nil pointer", withPointer{}, 0},
		{"duration pointer", withDurationPointer{struct{ WarnAfter *stage.Duration }{&d}}, 30 * time.Hour},
	} {
		if got := warnAfter(tt.spec); got != tt.want {
			t.Errorf("%s: warnAfter = %v, want %v", tt.name, got, tt.want)
		}
	}

	now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	day := func(d int, status string) *runView {
		r := &runView{Label: "x", Start: time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, d+1, 0, 0, 0, 0, time.UTC)}
		if status == "failed" {
			r.Failed = 1
		}
		return r
	}
	pi := &pipeInfo{WarnAfter: 30 * time.Hour}
	for _, tt := range []struct {
		name     string
		runs     []*runView
		late     bool
		age      time.Duration
		declared bool
	}{
		{"yesterday complete", []*runView{day(22, "committed"), day(23, "committed")}, false, 8 * time.Hour, true},
		{"yesterday failed", []*runView{day(22, "committed"), day(23, "failed")}, true, 32 * time.Hour, true},
		{"two days failed", []*runView{day(21, "committed"), day(22, "failed"), day(23, "failed")}, true, 56 * time.Hour, true},
		{"never complete", []*runView{day(23, "failed")}, true, 0, true},
	} {
		f := freshnessOf(pi, tt.runs, now)
		if f.Late != tt.late || f.Age != tt.age || f.Declared != tt.declared {
			t.Errorf("%s: late %v age %v declared %v; want %v %v %v", tt.name, f.Late, f.Age, f.Declared, tt.late, tt.age, tt.declared)
		}
	}
	if f := freshnessOf(&pipeInfo{}, []*runView{day(1, "failed")}, now); f.Declared || f.Late {
		t.Errorf("a pipeline without warn_after: %+v", f)
	}
}
