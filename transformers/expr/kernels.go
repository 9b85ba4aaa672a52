package expr

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/civil"
	"github.com/jetflow-dev/jetflow/internal/hashcol"
)

// The kernels below are what arrow-go's compute lacks. Each is one typed loop over a whole array, writing into a
// builder sized up front; none allocates per row or calls through an interface per value.

func (ev *evaluator) kernel(n *Node, args []arrow.Array) (arrow.Array, error) {
	mem := ev.mem
	switch n.op {
	case "lower", "upper", "trim", "ltrim", "rtrim":
		return stringMap(mem, args[0].(*array.String), n.op), nil
	case "substr":
		start, length := n.args[1].lit.(int64), int64(-1)
		if len(n.args) == 3 {
			length = n.args[2].lit.(int64)
		}
		return substr(mem, args[0].(*array.String), start, length), nil
	case "replace":
		return replace(mem, args[0].(*array.String), n.args[1].lit.(string), n.args[2].lit.(string)), nil
	case "regexp_match":
		return regexpMatch(mem, args[0].(*array.String), n.args[1].lit.(*regexp.Regexp)), nil
	case "concat":
		return concat(mem, n, args, ev.rows), nil
	case "year", "month", "day", "hour":
		return datePart(mem, args[0], n.op)
	case "date_trunc":
		return dateTrunc(mem, args[1], n.args[0].lit.(string))
	case "sha256":
		return sha256Hasher.Array(mem, args[0])
	case "xxhash64":
		return xxhash64Hasher.Array(mem, args[0])
	}
	return nil, fmt.Errorf("internal error: no kernel for %s", n.op)
}

func stringMap(mem memory.Allocator, a *array.String, op string) arrow.Array {
	w := newStringWriter(mem, a.Len(), len(a.ValueBytes()))
	var buf []byte
	for i := range a.Len() {
		if a.IsNull(i) {
			w.null()
			continue
		}
		s := a.Value(i)
		switch op {
		case "trim":
			w.appendString(strings.TrimSpace(s))
		case "ltrim":
			w.appendString(strings.TrimLeftFunc(s, unicode.IsSpace))
		case "rtrim":
			w.appendString(strings.TrimRightFunc(s, unicode.IsSpace))
		default:
			buf = mapCase(buf[:0], s, op == "upper")
			w.append(buf)
		}
	}
	return w.finish()
}

// mapCase appends s in upper or lower case to buf: ASCII byte by byte, the rest rune by rune.
func mapCase(buf []byte, s string, upper bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf = append(buf, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if upper {
			r = unicode.ToUpper(r)
		} else {
			r = unicode.ToLower(r)
		}
		buf = utf8.AppendRune(buf, r)
		i += size
	}
	return buf
}

// substr takes characters from start (1-based; negative counts from the end, 0 is 1) for length characters
// (-1: to the end).
func substr(mem memory.Allocator, a *array.String, start, length int64) arrow.Array {
	w := newStringWriter(mem, a.Len(), len(a.ValueBytes()))
	for i := range a.Len() {
		if a.IsNull(i) {
			w.null()
			continue
		}
		s := a.Value(i)
		from := start - 1
		if start < 0 {
			from = int64(utf8.RuneCountInString(s)) + start
		} else if start == 0 {
			from = 0
		}
		to := int64(math.MaxInt64)
		if length >= 0 {
			to = max(from, 0) + length
			if from < 0 { // a start before the first character still counts toward length, as in SQL
				to = from + length
			}
		}
		from = max(from, 0)
		lo, hi, k := len(s), len(s), int64(0)
		for j := range s { // j walks character starts
			if k == from {
				lo = j
			}
			if k == to {
				hi = j
				break
			}
			k++
		}
		if lo > hi {
			lo = hi
		}
		w.appendString(s[lo:hi])
	}
	return w.finish()
}

func replace(mem memory.Allocator, a *array.String, from, to string) arrow.Array {
	w := newStringWriter(mem, a.Len(), len(a.ValueBytes()))
	var buf []byte
	for i := range a.Len() {
		if a.IsNull(i) {
			w.null()
			continue
		}
		s := a.Value(i)
		buf = buf[:0]
		for {
			j := strings.Index(s, from)
			if j < 0 {
				break
			}
			buf = append(append(buf, s[:j]...), to...)
			s = s[j+len(from):]
		}
		w.append(append(buf, s...))
	}
	return w.finish()
}

func regexpMatch(mem memory.Allocator, a *array.String, re *regexp.Regexp) arrow.Array {
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	b.Reserve(a.Len())
	for i := range a.Len() {
		if a.IsNull(i) {
			b.UnsafeAppendBoolToBitmap(false)
			continue
		}
		b.UnsafeAppend(re.MatchString(a.Value(i)))
	}
	return b.NewArray()
}

// concat joins text; literal arguments (nil in args) are read from the node, the rest are string arrays.
func concat(mem memory.Allocator, n *Node, args []arrow.Array, rows int) arrow.Array {
	strs := make([]*array.String, len(args))
	lits := make([]string, len(args))
	litNull := false
	hint := 0
	for k, a := range args {
		if a == nil {
			s, ok := n.args[k].lit.(string)
			litNull = litNull || !ok
			lits[k] = s
			hint += len(s) * rows
			continue
		}
		strs[k] = a.(*array.String)
		hint += len(strs[k].ValueBytes())
	}
	w := newStringWriter(mem, rows, hint)
	if litNull {
		for range rows {
			w.null()
		}
		return w.finish()
	}
	var buf []byte
rows:
	for i := range rows {
		buf = buf[:0]
		for k, s := range strs {
			if s == nil {
				buf = append(buf, lits[k]...)
				continue
			}
			if s.IsNull(i) {
				w.null()
				continue rows
			}
			buf = append(buf, s.Value(i)...)
		}
		w.append(buf)
	}
	return w.finish()
}

func unitsPerSecond(u arrow.TimeUnit) int64 {
	return int64(time.Second / u.Multiplier())
}

func datePart(mem memory.Allocator, a arrow.Array, part string) (arrow.Array, error) {
	b := array.NewInt32Builder(mem)
	defer b.Release()
	b.Reserve(a.Len())
	var which int // 0 year, 1 month, 2 day, 3 hour: an int switch per row, not a closure call
	switch part {
	case "month":
		which = 1
	case "day":
		which = 2
	case "hour":
		which = 3
	}
	pick := [4]int64{}
	switch a := a.(type) {
	case *array.Date32:
		vals := a.Date32Values()
		for i, v := range vals {
			if a.IsNull(i) {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			y, m, d := civil.FromDays(int64(v))
			pick = [4]int64{y, int64(m), int64(d), 0}
			b.UnsafeAppend(int32(pick[which]))
		}
	case *array.Timestamp:
		tt := a.DataType().(*arrow.TimestampType)
		loc, err := zoneOf(tt)
		if err != nil {
			return nil, err
		}
		ups := unitsPerSecond(tt.Unit)
		perDay := ups * 86400
		for i, v := range a.TimestampValues() {
			if a.IsNull(i) {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			if loc == time.UTC {
				days := civil.FloorDiv(int64(v), perDay)
				y, m, d := civil.FromDays(days)
				pick = [4]int64{y, int64(m), int64(d), (int64(v) - days*perDay) / (ups * 3600)}
				b.UnsafeAppend(int32(pick[which]))
				continue
			}
			t := toTime(int64(v), ups).In(loc)
			pick = [4]int64{int64(t.Year()), int64(t.Month()), int64(t.Day()), int64(t.Hour())}
			b.UnsafeAppend(int32(pick[which]))
		}
	default:
		return nil, fmt.Errorf("internal error: date part of %s", typeName(a.DataType()))
	}
	return b.NewArray(), nil
}

func toTime(v, ups int64) time.Time {
	s := civil.FloorDiv(v, ups)
	return time.Unix(s, (v-s*ups)*(int64(time.Second)/ups))
}

// truncDays truncates a day number to the start of its year, quarter, month or week (Monday).
func truncDays(days int64, unit string) int64 {
	switch unit {
	case "week":
		return days - (days + 3 - civil.FloorDiv(days+3, 7)*7) // 1970-01-01 was a Thursday: +3 makes Monday 0
	case "day":
		return days
	}
	y, m, _ := civil.FromDays(days)
	switch unit {
	case "year":
		m = 1
	case "quarter":
		m = (m-1)/3*3 + 1
	}
	return civil.Days(y, m, 1)
}

func dateTrunc(mem memory.Allocator, a arrow.Array, unit string) (arrow.Array, error) {
	switch a := a.(type) {
	case *array.Date32:
		b := array.NewDate32Builder(mem)
		defer b.Release()
		b.Reserve(a.Len())
		for i, v := range a.Date32Values() {
			if a.IsNull(i) {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			b.UnsafeAppend(arrow.Date32(truncDays(int64(v), unit)))
		}
		return b.NewArray(), nil
	case *array.Timestamp:
		tt := a.DataType().(*arrow.TimestampType)
		loc, err := zoneOf(tt)
		if err != nil {
			return nil, err
		}
		ups := unitsPerSecond(tt.Unit)
		var step int64
		switch unit {
		case "second":
			step = ups
		case "minute":
			step = ups * 60
		case "hour":
			step = ups * 3600
		}
		perDay := ups * 86400
		b := array.NewTimestampBuilder(mem, tt)
		defer b.Release()
		b.Reserve(a.Len())
		for i, v := range a.TimestampValues() {
			if a.IsNull(i) {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			x := int64(v)
			switch {
			case step != 0 && (loc == time.UTC || unit != "hour"):
				// Zones are offset by whole minutes almost everywhere, so minute and second need no zone.
				x = civil.FloorDiv(x, step) * step
			case loc == time.UTC:
				x = truncDays(civil.FloorDiv(x, perDay), unit) * perDay
			default:
				t := toTime(x, ups).In(loc)
				y, m, d := t.Date()
				var tr time.Time
				switch unit {
				case "hour":
					tr = time.Date(y, m, d, t.Hour(), 0, 0, 0, loc)
				default:
					days := truncDays(civil.Days(int64(y), int(m), d), unit)
					yy, mm, dd := civil.FromDays(days)
					tr = time.Date(int(yy), time.Month(mm), dd, 0, 0, 0, 0, loc)
				}
				x = tr.Unix()*ups + int64(tr.Nanosecond())/(int64(time.Second)/ups)
			}
			b.UnsafeAppend(arrow.Timestamp(x))
		}
		return b.NewArray(), nil
	}
	return nil, fmt.Errorf("internal error: date_trunc of %s", typeName(a.DataType()))
}

// The hash functions' kernels are those of the hash transformer, without a salt.
var (
	sha256Hasher   = mustHasher(hashcol.SHA256)
	xxhash64Hasher = mustHasher(hashcol.XXHash64)
)

func mustHasher(algo string) *hashcol.Hasher {
	h, err := hashcol.New(algo, nil)
	if err != nil {
		panic(err)
	}
	return h
}

// moduloKernel is % with the sign of the dividend (as in SQL and Go); a zero divisor gives null.
func moduloKernel(mem memory.Allocator, l, r arrow.Array) arrow.Array {
	switch l := l.(type) {
	case *array.Int64:
		rv := r.(*array.Int64)
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.Reserve(l.Len())
		rs := rv.Int64Values()
		for i, x := range l.Int64Values() {
			if l.IsNull(i) || rv.IsNull(i) || rs[i] == 0 {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			b.UnsafeAppend(x % rs[i])
		}
		return b.NewArray()
	default:
		lv, rv := l.(*array.Float64), r.(*array.Float64)
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.Reserve(lv.Len())
		rs := rv.Float64Values()
		for i, x := range lv.Float64Values() {
			if lv.IsNull(i) || rv.IsNull(i) || rs[i] == 0 {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			b.UnsafeAppend(math.Mod(x, rs[i]))
		}
		return b.NewArray()
	}
}

// notKernel and isNullKernel are here rather than arrow-go's "not" and "is_null", which (in v18.8.0) lose the
// validity offset of sliced input.
func notKernel(mem memory.Allocator, _ *Node, a arrow.Array) arrow.Array {
	if a.DataType().ID() == arrow.NULL {
		return array.MakeArrayOfNull(mem, dtBool, a.Len())
	}
	in := a.(*array.Boolean)
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	b.Reserve(in.Len())
	for i := range in.Len() {
		if in.IsNull(i) {
			b.UnsafeAppendBoolToBitmap(false)
			continue
		}
		b.UnsafeAppend(!in.Value(i))
	}
	return b.NewArray()
}

// isNullKernel answers IS NULL, or IS NOT NULL when n.not, from the validity bitmap alone.
func isNullKernel(mem memory.Allocator, n *Node, a arrow.Array) arrow.Array {
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	b.Reserve(a.Len())
	bits, off := a.NullBitmapBytes(), a.Data().Offset()
	allNull := a.NullN() == a.Len() || a.DataType().ID() == arrow.NULL
	for i := range a.Len() {
		null := allNull || a.NullN() > 0 && len(bits) > 0 && !bitutil.BitIsSet(bits, off+i)
		b.UnsafeAppend(null != n.not)
	}
	return b.NewArray()
}

// textKernel formats int64, float64, bool, date32 and timestamp arrays as text: integers in decimal, floats in
// the shortest form that reads back the same, dates as 2006-01-02, timestamps as RFC 3339 in their zone.
func textKernel(mem memory.Allocator, a arrow.Array) (arrow.Array, error) {
	w := newStringWriter(mem, a.Len(), a.Len()*8)
	var buf []byte
	switch a := a.(type) {
	case *array.Int64:
		for i, v := range a.Int64Values() {
			if a.IsNull(i) {
				w.null()
				continue
			}
			buf = strconv.AppendInt(buf[:0], v, 10)
			w.append(buf)
		}
	case *array.Float64:
		for i, v := range a.Float64Values() {
			if a.IsNull(i) {
				w.null()
				continue
			}
			buf = strconv.AppendFloat(buf[:0], v, 'g', -1, 64)
			w.append(buf)
		}
	case *array.Boolean:
		for i := range a.Len() {
			if a.IsNull(i) {
				w.null()
				continue
			}
			buf = strconv.AppendBool(buf[:0], a.Value(i))
			w.append(buf)
		}
	case *array.Date32:
		for i, v := range a.Date32Values() {
			if a.IsNull(i) {
				w.null()
				continue
			}
			buf = v.ToTime().AppendFormat(buf[:0], time.DateOnly)
			w.append(buf)
		}
	case *array.Timestamp:
		tt := a.DataType().(*arrow.TimestampType)
		loc, err := zoneOf(tt)
		if err != nil {
			w.release()
			return nil, err
		}
		ups := unitsPerSecond(tt.Unit)
		for i, v := range a.TimestampValues() {
			if a.IsNull(i) {
				w.null()
				continue
			}
			buf = toTime(int64(v), ups).In(loc).AppendFormat(buf[:0], time.RFC3339Nano)
			w.append(buf)
		}
	default:
		w.release()
		return nil, fmt.Errorf("cannot format %s as text", typeName(a.DataType()))
	}
	return w.finish(), nil
}
