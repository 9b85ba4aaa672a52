package cut

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func keys(col string, rs [][2]any) string {
	var ks []string
	for _, r := range rs {
		ks = append(ks, Key(col, r[0], r[1]))
	}
	return strings.Join(ks, " ")
}

func TestIntRanges(t *testing.T) {
	for _, tc := range []struct {
		lo, hi, step int64
		count        int
		want         string
	}{
		{0, 19999, 8000, 0, "id[0,8000) id[8000,16000) id[16000,24000)"},
		{-5, 5, 10, 0, "id[-10,0) id[0,10)"},
		{0, 9, 0, 3, "id[0,4) id[4,7) id[7,10)"},
		{5, 5, 0, 4, "id[5,6)"},
		{1, 2, 0, 5, "id[1,2) id[2,3)"}, // more ranges asked than values
		// Near the top of int64 the last range ends at the largest int64, never wraps round.
		{math.MaxInt64 - 3, math.MaxInt64 - 1, 2, 0, "id[9223372036854775804,9223372036854775806) id[9223372036854775806,9223372036854775807)"},
		{math.MaxInt64 - 3, math.MaxInt64 - 1, 0, 2, "id[9223372036854775804,9223372036854775806) id[9223372036854775806,9223372036854775807)"},
		{math.MinInt64, math.MinInt64 + 1, 3, 0, "id[-9223372036854775808,-9223372036854775805)"},
		{math.MinInt64, math.MaxInt64 - 1, 0, 2, "id[-9223372036854775808,0) id[0,9223372036854775807)"},
	} {
		rs, err := IntRanges(tc.lo, tc.hi, tc.step, tc.count)
		if got := keys("id", rs); got != tc.want || err != nil {
			t.Errorf("IntRanges(%d, %d, %d, %d) = %s, %v; want %s", tc.lo, tc.hi, tc.step, tc.count, got, err, tc.want)
		}
	}
	if _, err := IntRanges(0, math.MaxInt64, 1000, 0); !errors.Is(err, ErrMaxInt64) {
		t.Errorf("a maximum of math.MaxInt64: error %v, want ErrMaxInt64", err)
	}
}

func TestWindows(t *testing.T) {
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		every       time.Duration
		count       int
		unit        time.Duration
		n           int
		first, last string
		err         error
	}{
		{"hourly", time.Hour, 0, time.Microsecond, 24, "at[2026-11-22T00:00:00Z,2026-11-22T01:00:00Z)", "at[2026-11-22T23:00:00Z,2026-11-23T00:00:00Z)", nil},
		{"a step that does not divide the day", 7 * time.Hour, 0, time.Microsecond, 4, "at[2026-11-22T00:00:00Z,2026-11-22T07:00:00Z)", "at[2026-11-22T21:00:00Z,2026-11-23T00:00:00Z)", nil},
		{"count 7 in microseconds", 0, 7, time.Microsecond, 7, "at[2026-11-22T00:00:00Z,2026-11-22T03:25:42.857142Z)", "at[2026-11-22T20:34:17.142852Z,2026-11-23T00:00:00Z)", nil},
		{"count 7 in seconds", 0, 7, time.Second, 7, "at[2026-11-22T00:00:00Z,2026-11-22T03:25:42Z)", "at[2026-11-22T20:34:12Z,2026-11-23T00:00:00Z)", nil},
		{"a step longer than the run", 48 * time.Hour, 0, time.Microsecond, 1, "at[2026-11-22T00:00:00Z,2026-11-23T00:00:00Z)", "at[2026-11-22T00:00:00Z,2026-11-23T00:00:00Z)", nil},
		{"too many windows for the unit", 0, 100_000, time.Second, 0, "", "", ErrTooShort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			end := day.Add(24 * time.Hour)
			ws, err := Windows(day, end, Step(day, end, tc.every, tc.count, tc.unit), tc.count)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if len(ws) != tc.n {
				t.Fatalf("%d windows, want %d", len(ws), tc.n)
			}
			for i := 1; i < len(ws); i++ {
				if ws[i][0] != ws[i-1][1] {
					t.Errorf("window %d starts at %v, not where %d ends", i, ws[i][0], i-1)
				}
			}
			if tc.n > 0 {
				if got := Key("at", ws[0][0], ws[0][1]); got != tc.first {
					t.Errorf("first %s, want %s", got, tc.first)
				}
				if got := Key("at", ws[tc.n-1][0], ws[tc.n-1][1]); got != tc.last {
					t.Errorf("last %s, want %s", got, tc.last)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name          string
		column        string
		every         time.Duration
		step          int64
		count, ranges int
		want          string
	}{
		{"no partitioning", "", 0, 0, 0, 0, ""},
		{"every without a column", "", time.Hour, 0, 0, 0, "partition.column: is required with every, step, count or ranges"},
		{"no ranges option", "", 0, 10, 0, -1, "partition.column: is required with every, step or count"},
		{"two ways", "id", 0, 10, 4, 0, "partition: set exactly one of every (time columns), step (integer columns), count or ranges"},
		{"none", "id", 0, 0, 0, -1, "partition: set exactly one of every (time columns), step (integer columns) or count"},
		{"negative", "at", -time.Hour, 0, 0, 0, "partition: set exactly one of every (time columns), step (integer columns), count or ranges; partition.every: must be positive"},
		{"ranges", "id", 0, 0, 0, 3, ""},
		{"every", "at", time.Hour, 0, 0, -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var msgs []string
			for _, err := range Check(tc.column, tc.every, tc.step, tc.count, tc.ranges) {
				msgs = append(msgs, err.Error())
			}
			if got := strings.Join(msgs, "; "); got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
