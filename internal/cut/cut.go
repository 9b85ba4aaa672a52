// Package cut cuts a source's rows into the deterministic ranges consumers plan as partitions: integer ranges
// over [min, max] of a key column, time windows over a run instance, and the canonical Key text of a range. The
// same rows always give the same ranges, so a re-run plans the same partition ids.
package cut

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
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

// Step is the window length for windows of every, or for count windows (count > 0) of [start, end), truncated to
// unit (the source's time precision).
func Step(start, end time.Time, every time.Duration, count int, unit time.Duration) time.Duration {
	if count > 0 {
		return (end.Sub(start) / time.Duration(count)).Truncate(unit)
	}
	return every
}

// Windows cuts [start, end) into windows of step (from Step); with count > 0 the count-th window takes whatever
// truncating step left over, so there are exactly count. Each element is {time.Time, time.Time} in UTC.
func Windows(start, end time.Time, step time.Duration, count int) ([][2]any, error) {
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

// Check validates how a config asks to cut by a column: column set whenever any of every, step, count (or
// explicit ranges, where the consumer has them: ranges ≥ 0) is, exactly one of them, none negative. Errors are
// stage.FieldErrors at partition.* keys.
func Check(column string, every time.Duration, step int64, count, ranges int) []error {
	options := "every, step or count"
	if ranges >= 0 {
		options = "every, step, count or ranges"
	}
	set := 0
	for _, on := range []bool{every > 0, step > 0, count > 0, ranges > 0} {
		if on {
			set++
		}
	}
	var errs []error
	if column == "" {
		if set > 0 {
			errs = append(errs, stage.FieldErrorf("partition.column", "is required with %s", options))
		}
		return errs
	}
	if set != 1 {
		errs = append(errs, stage.FieldErrorf("partition", "set exactly one of %s", strings.Replace(options, "every, step", "every (time columns), step (integer columns)", 1)))
	}
	for _, neg := range []struct {
		key string
		bad bool
	}{{"partition.every", every < 0}, {"partition.step", step < 0}, {"partition.count", count < 0}} {
		if neg.bad {
			errs = append(errs, stage.FieldErrorf(neg.key, "must be positive"))
		}
	}
	return errs
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
