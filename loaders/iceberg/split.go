package iceberg

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/twmb/murmur3"

	"github.com/jetflow-dev/jetflow/internal/civil"
	"github.com/jetflow-dev/jetflow/internal/groupby"
)

// specSplitter assigns the rows of a batch to the Iceberg partitions of a spec, a column at a time: each
// partition field's transform becomes an integer key per row, computed in a typed loop, and the keys of the
// fields are combined into groups by internal/groupby: one map lookup per row and field (none when a row
// repeats the row before it). iceberg-go's fanout writer instead converts every row's value to an `any`, transforms it through
// an interface and walks a map tree, about 260 ns a row, a quarter of the whole load's CPU. The partition values
// themselves are computed once per group, from the group's first row, with iceberg-go's own transforms, so they
// are exactly what iceberg-go would record; the keys only decide which rows share them
// (TestSplitterGroupsAsIcebergTransforms checks that against iceberg-go row by row).
type specSplitter struct {
	fields []splitField

	dict   groupby.Dict
	keys   []int64
	groups groupby.Grouper
}

type splitField struct {
	field    iceberg.PartitionField
	srcType  iceberg.Type
	col      int                                    // the source column in the batch
	keys     func(s *specSplitter, col arrow.Array) // fills s.keys, one per row (nulls are looked at apart)
	value    func(col arrow.Array, row int) any     // the source value as iceberg-go's writer reads it
	apply    func(any) any                          // the transform, as iceberg-go's writer binds it
	constant bool                                   // void: every row has the same (null) value
}

// newSpecSplitter returns a splitter for batches of schema input, or ok false when some partition field is one
// the splitter does not handle (a nested source column, a transform of a type it has no key for): the caller
// then leaves the whole write to iceberg-go.
func newSpecSplitter(spec iceberg.PartitionSpec, sc *iceberg.Schema, input *arrow.Schema) (s *specSplitter, ok bool) {
	s = &specSplitter{}
	top := map[int]bool{}
	for _, f := range sc.Fields() {
		top[f.ID] = true
	}
	for _, pf := range spec.Fields() {
		if len(pf.SourceIDs) > 1 {
			return nil, false
		}
		src, found := sc.FindFieldByID(pf.SourceID())
		if !found || !top[pf.SourceID()] {
			return nil, false
		}
		idx := input.FieldIndices(src.Name)
		if len(idx) != 1 {
			return nil, false
		}
		f := splitField{field: pf, srcType: src.Type, col: idx[0]}
		dt := input.Field(idx[0]).Type
		if !bindSplitField(&f, dt) {
			return nil, false
		}
		s.fields = append(s.fields, f)
	}
	return s, true
}

const (
	microsPerHour = int64(3_600_000_000)
	microsPerDay  = 24 * microsPerHour
)

// bindSplitField picks the key function, source value reader and transform of f for a column of type dt.
func bindSplitField(f *splitField, dt arrow.DataType) bool {
	if _, ok := f.field.Transform.(iceberg.VoidTransform); ok {
		f.constant = true
		f.apply = func(any) any { return nil }
		return true
	}
	value, ok := sourceValue(dt, f.srcType)
	if !ok {
		return false
	}
	f.value = value
	switch t := f.field.Transform.(type) {
	case iceberg.IdentityTransform:
		f.apply = func(v any) any { return v }
		f.keys = identityKeys(dt)
	case iceberg.BucketTransform:
		if !t.CanTransform(f.srcType) {
			return false
		}
		tr := t.Transformer(f.srcType)
		f.apply = func(v any) any {
			if o := tr(v); o.Valid {
				return o.Val
			}
			return nil
		}
		f.keys = bucketKeys(dt, int64(t.NumBuckets))
	case iceberg.TruncateTransform:
		tr, err := t.Transformer(f.srcType)
		if err != nil {
			return false
		}
		f.apply = tr
		f.keys = truncateKeys(dt, t.Width)
	case iceberg.YearTransform, iceberg.MonthTransform, iceberg.DayTransform, iceberg.HourTransform:
		tt := t.(iceberg.TimeTransform)
		tr, err := tt.Transformer(f.srcType)
		if err != nil {
			return false
		}
		_, day := t.(iceberg.DayTransform)
		f.apply = func(v any) any {
			o := tr(v)
			switch {
			case !o.Valid:
				return nil
			case day:
				return iceberg.Date(o.Val)
			default:
				return o.Val
			}
		}
		f.keys = timeKeys(dt, t)
	default:
		return false
	}
	return f.keys != nil
}

// sourceValue reads a value the way iceberg-go's writer does (getArrowValueAsIcebergValue), for the column types
// the splitter handles. Strings are cloned: partition values outlive the batch.
func sourceValue(dt arrow.DataType, src iceberg.Type) (func(arrow.Array, int) any, bool) {
	switch t := dt.(type) {
	case *arrow.Int8Type:
		return func(a arrow.Array, i int) any { return int32(a.(*array.Int8).Value(i)) }, true
	case *arrow.Int16Type:
		return func(a arrow.Array, i int) any { return int32(a.(*array.Int16).Value(i)) }, true
	case *arrow.Int32Type:
		return func(a arrow.Array, i int) any { return a.(*array.Int32).Value(i) }, true
	case *arrow.Int64Type:
		return func(a arrow.Array, i int) any { return a.(*array.Int64).Value(i) }, true
	case *arrow.BooleanType:
		return func(a arrow.Array, i int) any { return a.(*array.Boolean).Value(i) }, true
	case *arrow.Date32Type:
		return func(a arrow.Array, i int) any { return iceberg.Date(a.(*array.Date32).Value(i)) }, true
	case *arrow.TimestampType:
		switch src.(type) {
		case iceberg.TimestampType, iceberg.TimestampTzType:
		default:
			return nil, false
		}
		if t.Unit != arrow.Microsecond {
			return nil, false
		}
		return func(a arrow.Array, i int) any { return iceberg.Timestamp(a.(*array.Timestamp).Value(i)) }, true
	case *arrow.StringType:
		return func(a arrow.Array, i int) any { return strings.Clone(a.(*array.String).Value(i)) }, true
	case *arrow.LargeStringType:
		return func(a arrow.Array, i int) any { return strings.Clone(a.(*array.LargeString).Value(i)) }, true
	}
	return nil, false
}

func isIntLike(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.DATE32, arrow.TIMESTAMP:
		return true
	}
	return false
}

func isString(dt arrow.DataType) bool {
	return dt.ID() == arrow.STRING || dt.ID() == arrow.LARGE_STRING
}

// The key functions below fill s.keys a column at a time: the raw values first (groupby.IntKeys,
// groupby.Dict.StringKeys), then the transform in a plain loop over them, with no call per row.

func identityKeys(dt arrow.DataType) func(*specSplitter, arrow.Array) {
	switch {
	case isIntLike(dt) || dt.ID() == arrow.BOOL:
		return func(s *specSplitter, col arrow.Array) { groupby.IntKeys(col, s.keys) }
	case isString(dt):
		return func(s *specSplitter, col arrow.Array) { s.dict.StringKeys(col, s.keys) }
	}
	return nil
}

// bucketKeys computes Iceberg's bucket: murmur3 (32-bit, x86) of the value's bytes (int, long, date and
// timestamp as an 8-byte little-endian long; a string's UTF-8 bytes), sign bit cleared, modulo n.
func bucketKeys(dt arrow.DataType, n int64) func(*specSplitter, arrow.Array) {
	switch {
	case isIntLike(dt):
		return func(s *specSplitter, col arrow.Array) {
			groupby.IntKeys(col, s.keys)
			var b [8]byte
			for i, v := range s.keys {
				binary.LittleEndian.PutUint64(b[:], uint64(v))
				s.keys[i] = int64(murmur3.Sum32(b[:])&0x7fffffff) % n
			}
		}
	case isString(dt):
		return func(s *specSplitter, col arrow.Array) {
			switch a := col.(type) {
			case *array.String:
				for i := range a.Len() {
					s.keys[i] = int64(murmur3.StringSum32(a.Value(i))&0x7fffffff) % n
				}
			case *array.LargeString:
				for i := range a.Len() {
					s.keys[i] = int64(murmur3.StringSum32(a.Value(i))&0x7fffffff) % n
				}
			}
		}
	}
	return nil
}

// truncateKeys computes Iceberg's truncate: v - (v mod w) rounded toward negative infinity for integers; the
// first w code points of a string (as its number within the batch).
func truncateKeys(dt arrow.DataType, w int) func(*specSplitter, arrow.Array) {
	width := int64(w)
	switch {
	case dt.ID() == arrow.INT8 || dt.ID() == arrow.INT16 || dt.ID() == arrow.INT32 || dt.ID() == arrow.INT64:
		return func(s *specSplitter, col arrow.Array) {
			groupby.IntKeys(col, s.keys)
			for i, v := range s.keys {
				s.keys[i] = v - (((v % width) + width) % width)
			}
		}
	case isString(dt):
		return func(s *specSplitter, col arrow.Array) {
			s.dict.Reset()
			switch a := col.(type) {
			case *array.String:
				for i := range a.Len() {
					s.keys[i] = s.dict.ID(truncateRunes(a.Value(i), w))
				}
			case *array.LargeString:
				for i := range a.Len() {
					s.keys[i] = s.dict.ID(truncateRunes(a.Value(i), w))
				}
			}
		}
	}
	return nil
}

func truncateRunes(v string, w int) string {
	if len(v) <= w {
		return v
	}
	n := 0
	for i := range v {
		if n == w {
			return v[:i]
		}
		n++
	}
	return v
}

// timeKeys computes year, month, day and hour ordinals since the epoch of dates and microsecond timestamps.
func timeKeys(dt arrow.DataType, t iceberg.Transform) func(*specSplitter, arrow.Array) {
	var days bool // the values are days already (date32), not microseconds
	switch dt.ID() {
	case arrow.DATE32:
		days = true
	case arrow.TIMESTAMP:
	default:
		return nil
	}
	// toDays turns timestamps into days, in place.
	toDays := func(keys []int64) {
		if !days {
			for i, v := range keys {
				keys[i] = civil.FloorDiv(v, microsPerDay)
			}
		}
	}
	switch t.(type) {
	case iceberg.DayTransform:
		return func(s *specSplitter, col arrow.Array) {
			groupby.IntKeys(col, s.keys)
			toDays(s.keys)
		}
	case iceberg.HourTransform:
		if days {
			return nil
		}
		return func(s *specSplitter, col arrow.Array) {
			groupby.IntKeys(col, s.keys)
			for i, v := range s.keys {
				s.keys[i] = civil.FloorDiv(v, microsPerHour)
			}
		}
	case iceberg.MonthTransform:
		return func(s *specSplitter, col arrow.Array) {
			groupby.IntKeys(col, s.keys)
			toDays(s.keys)
			for i, v := range s.keys {
				y, m, _ := civil.FromDays(v)
				s.keys[i] = (y-1970)*12 + int64(m) - 1
			}
		}
	case iceberg.YearTransform:
		return func(s *specSplitter, col arrow.Array) {
			groupby.IntKeys(col, s.keys)
			toDays(s.keys)
			for i, v := range s.keys {
				y, _, _ := civil.FromDays(v)
				s.keys[i] = y - 1970
			}
		}
	}
	return nil
}

// split groups the rows of rec by Iceberg partition and returns the number of groups; s.groups describes them.
func (s *specSplitter) split(rec arrow.RecordBatch) int {
	n := int(rec.NumRows())
	s.keys = s.groups.Start(n)
	for _, f := range s.fields {
		if f.constant {
			continue
		}
		col := rec.Column(f.col)
		f.keys(s, col)
		var null func(int) bool
		if col.NullN() > 0 {
			null = col.IsNull
		}
		s.groups.Refine(s.keys, null)
	}
	return s.groups.Finish()
}

// partition returns the partition values of row (by partition field id, as iceberg-go's writer records them),
// the same values in spec order, and a key that tells partitions apart (the path does not: a null and the
// string "null" share one).
func (s *specSplitter) partition(rec arrow.RecordBatch, row int) (map[int]any, partitionRow, string) {
	vals := make(map[int]any, len(s.fields))
	ordered := make(partitionRow, len(s.fields))
	var key strings.Builder
	for i, f := range s.fields {
		var v any
		if !f.constant {
			col := rec.Column(f.col)
			if col.IsValid(row) {
				v = f.apply(f.value(col, row))
			}
		}
		vals[f.field.FieldID] = v
		ordered[i] = v
		if v == nil {
			key.WriteString("\x00n")
		} else {
			fmt.Fprintf(&key, "\x00%T\x01%v", v, v)
		}
	}
	return vals, ordered, key.String()
}

// partitionRow is one partition's values in spec order, for iceberg-go's PartitionToPath.
type partitionRow []any

func (r partitionRow) Size() int          { return len(r) }
func (r partitionRow) Get(pos int) any    { return r[pos] }
func (r partitionRow) Set(pos int, v any) { r[pos] = v }
