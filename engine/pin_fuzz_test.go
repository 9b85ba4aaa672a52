package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
)

// FuzzPinnedPlan reads pinned plans as the state store holds them (JSON text, seeded with what pinPlan writes):
// no text may panic, and the bounds of a plan that reads back pin to the same values again.
func FuzzPinnedPlan(f *testing.F) {
	for _, s := range []string{
		`{"run":"2026-11-22","partitions":[{"key":"k0","lo":{"kind":"time","value":"2026-11-22T00:00:00.123456789Z"},"hi":{"kind":"time","value":"2026-11-23T00:00:00+02:00"}}]}`,
		`{"run":"2026-11-22","partitions":[{"key":"k1","lane":"p0","lo":{"kind":"int","value":"-9223372036854775808"},"hi":{}},{"key":"k2","lo":{"kind":"string","value":"m"},"hi":{"kind":"string","value":"\u00e9"}}]}`,
		`{"run":"2026-11-22","partitions":[{"key":"k","lo":{"kind":"int","value":"99999999999999999999"}}]}`,
		`{"run":"other"}`, `{"run":"2026-11-22","partitions":[{"lo":{"kind":"float"}}]}`, `[]`, `{`, `null`,
	} {
		f.Add(s)
	}
	run := stage.RunInstance{Label: "2026-11-22"}
	e := &Engine{job: &Job{Pipeline: "p"}}
	f.Fuzz(func(t *testing.T, text string) {
		_, parts, err := e.decodePlan(text, pinnedPlanName, run)
		if err != nil {
			return
		}
		for _, p := range parts {
			for _, v := range []any{p.Lo, p.Hi} {
				b, err := boundOf(v)
				if err != nil {
					t.Fatalf("bound %#v read from %q cannot be pinned again: %v", v, text, err)
				}
				back, err := b.value()
				if err != nil {
					t.Fatalf("bound %#v pinned as %+v does not read back: %v", v, b, err)
				}
				if tv, ok := v.(time.Time); ok {
					if !tv.Equal(back.(time.Time)) {
						t.Fatalf("time bound %v pinned and read back as %v", tv, back)
					}
				} else if !reflect.DeepEqual(v, back) {
					t.Fatalf("bound %#v pinned and read back as %#v", v, back)
				}
			}
		}
	})
}
