package civil

import (
	"testing"
	"time"
)

// TestAgainstTimePackage checks every day from 1600 to 2400 against the time package.
func TestAgainstTimePackage(t *testing.T) {
	start := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2400, 12, 31, 0, 0, 0, 0, time.UTC)
	for day := start; !day.After(end); day = day.AddDate(0, 0, 1) {
		days := day.Unix() / 86400
		y, m, d := FromDays(days)
		if y != int64(day.Year()) || m != int(day.Month()) || d != day.Day() {
			t.Fatalf("FromDays(%d) = %d-%d-%d, want %s", days, y, m, d, day.Format(time.DateOnly))
		}
		if got := Days(y, m, d); got != days {
			t.Fatalf("Days(%d, %d, %d) = %d, want %d", y, m, d, got, days)
		}
	}
}

func TestFloorDiv(t *testing.T) {
	tests := []struct{ a, b, want int64 }{
		{7, 2, 3}, {-7, 2, -4}, {7, -2, -4}, {-7, -2, 3}, {-8, 2, -4}, {0, 5, 0}, {-1, 86400, -1},
	}
	for _, tc := range tests {
		if got := FloorDiv(tc.a, tc.b); got != tc.want {
			t.Errorf("FloorDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
