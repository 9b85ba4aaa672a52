// Package cut cuts a source's rows into the deterministic ranges consumers plan as partitions: integer ranges
// over [min, max] of a key column, time windows over a run instance, and the canonical Key text of a range. The
// same rows always give the same ranges, so a re-run plans the same partition ids.
package cut

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ErrMaxInt64 is returned by IntRanges for a column whose maximum is math.MaxInt64: no exclusive upper bound of
// an int64 can include it, and a range that silently left that row out would lose it.
var ErrMaxInt64 = errors.New("the column's maximum is 9223372036854775807, which no exclusive upper bound can include; partition it with explicit ranges or by another column")

// IntRanges cuts [lo, hi] into ranges [start, end) of step aligned on multiples of step (step > 0), or else into
// count ranges of nearly equal width. The last range ends at hi+1 (at most math.MaxInt64, where a step would pass
// it). Each element is {int64, int64}.
func IntRanges(lo, hi, step int64, count int) ([][2]any, error) {
	if hi == math.MaxInt64 {
		return nil, ErrMaxInt64
	}
	var out [][2]any
	if step > 0 {
		start := lo - mod(lo, step)
		if start > lo { // lo - mod(lo, step) went below math.MinInt64
			start = math.MinInt64
		}
		for s := start; s <= hi; s += step {
			end := s + step
			if end < s { // overflow: the last range ends at the largest int64
				end = math.MaxInt64
			}
			out = append(out, [2]any{s, end})
			if s > hi-step { // the next s would pass hi (or overflow)
				break
			}
		}
		return out, nil
	}
	width := uint64(hi-lo) + 1
	n := uint64(max(count, 1))
	size, extra := width/n, width%n
	s := lo
	for i := uint64(0); i < n && (i == 0 || s <= hi); i++ {
		e := s + int64(size)
		if i < extra {
			e++
		}
		if i == n-1 {
			e = hi + 1
		}
		if e == s {
			continue
		}
		out = append(out, [2]any{s, e})
		s = e
	}
	return out, nil
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// ErrTooShort is returned by Windows for a window length that is not positive.
var ErrTooShort = errors.New("windows are too short")

// Windows cuts [start, end) into windows of every, or into count windows (count > 0) whose length is truncated to
// unit; the last window always ends at end. Each element is {time.Time, time.Time} in UTC.
func Windows(start, end time.Time, every time.Duration, count int, unit time.Duration) ([][2]any, error) {
	step := every
	if count > 0 {
		step = (end.Sub(start) / time.Duration(count)).Truncate(unit)
	}
	if step <= 0 {
		return nil, fmt.Errorf("%w: %s", ErrTooShort, step)
	}
	var out [][2]any
	for lo := start.UTC(); lo.Before(end); lo = lo.Add(step) {
		hi := lo.Add(step)
		if hi.After(end) || (count > 0 && len(out) == count-1) {
			hi = end.UTC()
		}
		out = append(out, [2]any{lo, hi})
		if !hi.Before(end) {
			break
		}
	}
	return out, nil
}

// Step is the window length Windows uses for every and count.
func Step(start, end time.Time, every time.Duration, count int, unit time.Duration) time.Duration {
	if count > 0 {
		return (end.Sub(start) / time.Duration(count)).Truncate(unit)
	}
	return every
}

// Key is the canonical text of a range of column col: id[0,100000),
// updated_at[2026-11-22T00:00:00Z,2026-11-22T01:00:00Z).
func Key(col string, lo, hi any) string {
	return col + "[" + boundText(lo) + "," + boundText(hi) + ")"
}

func boundText(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
