package pipelines

import (
	"testing"
	"time"
)

func pipelineEvery(t *testing.T, every, tz string) *Pipeline {
	t.Helper()
	return parse(t, "name: p\nrun_instance: {every: "+every+", timezone: "+tz+"}\n"+
		"consumer: {type: testsrc, columns: [{name: id}]}\nloaders: [{type: testsink, dir: out}]\n")
}

func TestParseRun(t *testing.T) {
	now := time.Date(2026, 11, 22, 13, 47, 0, 0, time.UTC)
	tests := []struct {
		every, tz, in    string
		start, end, want string // RFC 3339 UTC; want is the label, or the error
	}{
		{"1d", "UTC", "2026-11-22", "2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z", "2026-11-22"},
		{"1d", "UTC", "today", "2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z", "2026-11-22"},
		{"1d", "UTC", "yesterday", "2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z", "2026-11-21"},
		{"1d", "Europe/Paris", "2026-11-22", "2026-11-21T23:00:00Z", "2026-11-22T23:00:00Z", "2026-11-22"},
		// Daylight saving time ends on 2026-10-25 in Paris: that day lasts 25 hours.
		{"1d", "Europe/Paris", "2026-10-25", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z", "2026-10-25"},
		{"7d", "UTC", "2026-11-19", "2026-11-19T00:00:00Z", "2026-11-26T00:00:00Z", "2026-11-19"},
		{"7d", "UTC", "2026-11-22", "", "", "2026-11-22 is not aligned to every: 7d; the nearest run instances are 2026-11-19 and 2026-11-26"},
		{"1h", "UTC", "2026-11-22T13", "2026-11-22T13:00:00Z", "2026-11-22T14:00:00Z", "2026-11-22T13"},
		{"2h", "UTC", "2026-11-22T12", "2026-11-22T12:00:00Z", "2026-11-22T14:00:00Z", "2026-11-22T12"},
		{"2h", "UTC", "2026-11-22T13", "", "", "2026-11-22T13 is not aligned to every: 2h; the nearest run instances are 2026-11-22T12 and 2026-11-22T14"},
		{"1h", "Asia/Kolkata", "2026-11-22T13", "2026-11-22T07:30:00Z", "2026-11-22T08:30:00Z", "2026-11-22T13"},
		{"15m", "UTC", "2026-11-22T13:45", "2026-11-22T13:45:00Z", "2026-11-22T14:00:00Z", "2026-11-22T13:45"},
		{"15m", "UTC", "2026-11-22T13:40", "", "", "2026-11-22T13:40 is not aligned to every: 15m; the nearest run instances are 2026-11-22T13:30 and 2026-11-22T13:45"},
		{"1h", "UTC", "2026-11-22", "", "", `"2026-11-22" is not a run instance of pipeline p: want the form 2006-01-02T15 (run_instance.every: 1h)`},
		{"1h", "UTC", "today", "", "", `"today" is not a run instance of pipeline p: want the form 2006-01-02T15 (run_instance.every: 1h)`},
		{"1d", "UTC", "2026-11-22T13", "", "", `"2026-11-22T13" is not a run instance of pipeline p: want the form 2006-01-02, today or yesterday (run_instance.every: 1d)`},
		// Clocks go from 02:00 to 03:00 in Paris on 2026-03-29.
		{"1h", "Europe/Paris", "2026-03-29T02", "", "", "2026-03-29T02 does not exist in time zone Europe/Paris (the clocks skip it)"},
		{"1h", "Europe/Paris", "2026-03-29T01", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01"},
		{"1h", "Europe/Paris", "2026-03-29T03", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z", "2026-03-29T03"},
	}
	for _, tt := range tests {
		t.Run(tt.every+"/"+tt.tz+"/"+tt.in, func(t *testing.T) {
			p := pipelineEvery(t, tt.every, tt.tz)
			r, err := p.ParseRunAt(tt.in, now)
			if tt.start == "" {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("error %v, want %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Label != tt.want || r.Start.Format(time.RFC3339) != tt.start || r.End.Format(time.RFC3339) != tt.end {
				t.Errorf("got %s [%s, %s), want %s [%s, %s)", r.Label, r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339), tt.want, tt.start, tt.end)
			}
			if r.Start.Location() != time.UTC || r.End.Location() != time.UTC {
				t.Errorf("bounds not in UTC: %v %v", r.Start, r.End)
			}
		})
	}
}

func TestPreviousRun(t *testing.T) {
	tests := []struct {
		every, tz, now, want string
	}{
		{"1d", "UTC", "2026-11-22T13:47:00Z", "2026-11-21"},
		{"1d", "UTC", "2026-11-22T00:00:00Z", "2026-11-21"}, // at the boundary the day before is just complete
		{"1d", "Europe/Paris", "2026-11-21T23:30:00Z", "2026-11-21"},
		{"1d", "America/New_York", "2026-11-22T03:00:00Z", "2026-11-20"},
		{"1h", "UTC", "2026-11-22T13:47:00Z", "2026-11-22T12"},
		{"1h", "UTC", "2026-11-22T00:10:00Z", "2026-11-21T23"},
		{"6h", "UTC", "2026-11-22T13:47:00Z", "2026-11-22T06"},
		{"30m", "UTC", "2026-11-22T13:47:00Z", "2026-11-22T13:00"},
		{"7d", "UTC", "2026-11-22T13:47:00Z", "2026-11-12"},
	}
	for _, tt := range tests {
		t.Run(tt.every+"/"+tt.tz+"/"+tt.now, func(t *testing.T) {
			p := pipelineEvery(t, tt.every, tt.tz)
			now, _ := time.Parse(time.RFC3339, tt.now)
			r := p.PreviousRun(now)
			if r.Label != tt.want {
				t.Fatalf("PreviousRun(%s) = %s, want %s", tt.now, r.Label, tt.want)
			}
			if r.End.After(now) {
				t.Errorf("run %s ends at %v, after now", r.Label, r.End)
			}
			back, err := p.ParseRunAt(r.Label, now)
			if err != nil || back != r {
				t.Errorf("label %s does not parse back to the same run: %+v %v", r.Label, back, err)
			}
		})
	}
	if r := StreamRun(); r.Label != "stream" || !r.End.IsZero() {
		t.Errorf("StreamRun() = %+v", r)
	}
}
