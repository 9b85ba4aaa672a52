package engine

import (
	"testing"
	"time"
)

// FreshnessOf is the rule check-freshness alerts on and the UI shows: late when the last success is older than
// warn_after or there is none; never late without warn_after.
func TestFreshnessOf(t *testing.T) {
	now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	ok := func(ago time.Duration) Outcome { return Outcome{Status: OutcomeOK, LastSuccess: now.Add(-ago)} }
	for _, tt := range []struct {
		name  string
		out   Outcome
		found bool
		warn  time.Duration
		late  bool
		age   time.Duration
	}{
		{"recent success", ok(2 * time.Hour), true, 26 * time.Hour, false, 2 * time.Hour},
		{"exactly at the deadline", ok(26 * time.Hour), true, 26 * time.Hour, false, 26 * time.Hour},
		{"old success", ok(30 * time.Hour), true, 26 * time.Hour, true, 30 * time.Hour},
		{"failing since an old success", Outcome{Status: OutcomeFailed, LastSuccess: now.Add(-30 * time.Hour), FailingSince: now.Add(-time.Hour)}, true, 26 * time.Hour, true, 30 * time.Hour},
		{"only failures", Outcome{Status: OutcomeFailed, FailingSince: now.Add(-time.Hour)}, true, 26 * time.Hour, true, 0},
		{"no outcome recorded", Outcome{}, false, 26 * time.Hour, true, 0},
		{"no warn_after", ok(300 * time.Hour), true, 0, false, 300 * time.Hour},
		{"no warn_after, never ran", Outcome{}, false, 0, false, 0},
	} {
		f := FreshnessOf(tt.out, tt.found, tt.warn, now)
		if f.Late != tt.late || f.Age != tt.age || f.WarnAfter != tt.warn {
			t.Errorf("%s: %+v; want late %v, age %v", tt.name, f, tt.late, tt.age)
		}
	}
}
