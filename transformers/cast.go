package transformers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ncruces/go-strftime"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/internal/civil"
	"github.com/jetflow-dev/jetflow/stage"
)

// CastConfig is the `cast` transformer's YAML config.
type CastConfig struct {
	Columns map[string]string `yaml:"columns" required:"true" doc:"Column: type, for each column to convert, with types written as in the type reference (int32, decimal(18,4), timestamp[us, UTC], date32, string)."`
	Safe    bool              `yaml:"safe" default:"true" doc:"true: a value that would overflow, lose digits or precision, or does not parse fails the batch with an error naming the column, the row and the value. false: fractional digits, finer time units and extra decimal digits are cut off (truncated toward zero), and a value that is out of range or does not parse becomes null (so the column becomes nullable)."`
	Formats map[string]string `yaml:"formats" doc:"Column: time format, for string columns parsed into a date or timestamp, and date or timestamp columns written as strings. strftime (%Y-%m-%d %H:%M:%S) or Go's reference layout (2006-01-02 15:04:05). Without one, parsing accepts RFC 3339 / ISO 8601 (2026-11-22T10:00:00Z, 2026-11-22 10:00:00.123, 2026-11-22), and writing uses RFC 3339 with the fraction the unit needs."`
}

func init() {
	stage.RegisterTransformer("cast", "Converts columns to other Arrow types: numbers, decimals (precision and scale), strings parsed to numbers, dates and timestamps (with formats) and back, timestamp units and zones, uuids to and from their text (01234567-89ab-cdef-0123-456789abcdef) and bytes, json to and from strings (a string cast to json must hold one JSON value). A timestamp without a zone is read as UTC when a zone is added; a zone change keeps the instant.",
		buildCast)
}

// castSpec is one column's conversion.
type castSpec struct {
	to     arrow.DataType
	layout string // Go layout from formats, "" for the defaults
}

func buildCast(bc stage.BuildContext, c *CastConfig) (stage.Transformer, error) {
	names := sortedKeys(c.Columns)
	specs := make([]castSpec, len(names))
	var errs []error
	for i, name := range names {
		dt, err := arrowtype.Parse(c.Columns[name])
		if err != nil {
			errs = append(errs, stage.FieldErrorf("columns."+name, "%v", err))
			continue
		}
		specs[i].to = dt
	}
	idx := make(map[string]int, len(names))
	for i, n := range names {
		idx[n] = i
	}
	for _, name := range sortedKeys(c.Formats) {
		i, ok := idx[name]
		if !ok {
			errs = append(errs, stage.FieldErrorf("formats."+name, "%q is not one of the columns this stage casts (%s); a format applies to a column listed under columns", name, strings.Join(names, ", ")))
			continue
		}
		layout, err := goLayout(c.Formats[name])
		if err != nil {
			errs = append(errs, stage.FieldErrorf("formats."+name, "%v", err))
			continue
		}
		specs[i].layout = layout
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cc := &caster{mem: bc.Alloc, safe: c.Safe}
	return &columnMap{
		mem: cc.mem, names: names, paths: prefixedPaths("columns.", names),
		outField: func(i int, f arrow.Field) (arrow.Field, error) {
			from, to := valueType(f.Type), specs[i].to
			if !castable(from, to) {
				return arrow.Field{}, stage.FieldErrorf("columns."+names[i], "cannot cast column %q from %s to %s", f.Name, arrowtype.Format(f.Type), arrowtype.Format(to))
			}
			if specs[i].layout != "" && !(isString(from) && isTemporal(to) || isTemporal(from) && isString(to)) {
				return arrow.Field{}, stage.FieldErrorf("formats."+names[i], "a format applies between strings and dates or timestamps, not from %s to %s", arrowtype.Format(from), arrowtype.Format(to))
			}
			// Unsafe casts turn what does not fit into nulls.
			return arrow.Field{Type: to, Nullable: f.Nullable || !c.Safe && !arrow.TypeEqual(from, to)}, nil
		},
		apply: func(ctx context.Context, i int, name string, col arrow.Array) (arrow.Array, error) {
			return cc.cast(ctx, name, col, specs[i])
		},
	}, nil
}

func prefixedPaths(prefix string, names []string) []string {
	p := make([]string, len(names))
	for i, n := range names {
		p[i] = prefix + n
	}
	return p
}

// goLayout turns a strftime format (it has a %) into Go's layout, and checks a Go layout formats a time.
func goLayout(format string) (string, error) {
	if strings.Contains(format, "%") {
		l, err := strftime.Layout(format)
		if err != nil {
			return "", fmt.Errorf("invalid strftime format %q: %v", format, err)
		}
		return l, nil
	}
	ref := time.Date(1999, 12, 31, 23, 58, 57, 0, time.UTC) // no field shares a digit with the reference time
	if ref.Format(format) == format {
		return "", fmt.Errorf("format %q has no date or time fields: write it with strftime (%%Y-%%m-%%d) or Go's reference time (2006-01-02)", format)
	}
	return format, nil
}

func isString(dt arrow.DataType) bool {
	return dt.ID() == arrow.STRING || dt.ID() == arrow.LARGE_STRING
}

func isTemporal(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		return true
	}
	return false
}

func isDecimal(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
		return true
	}
	return false
}

// castable says whether cast converts from → to: through its own string kernels or Arrow's cast functions.
func castable(from, to arrow.DataType) bool {
	switch {
	case arrow.TypeEqual(from, to):
		return true
	case isUUID(from) || isUUID(to):
		return uuidCastable(from, to)
	case isJSON(from) || isJSON(to):
		return jsonCastable(from, to)
	case isString(from) && (isTemporal(to) || isDecimal(to)):
		return true
	case (isTemporal(from) || isDecimal(from)) && isString(to):
		return true
	}
	return compute.CanCast(from, to)
}

// caster converts arrays; it is read-only, so batches may be cast concurrently.
type caster struct {
	mem  memory.Allocator
	safe bool
}

// cast converts col (dictionary-encoded or not) to spec.to.
func (c *caster) cast(ctx context.Context, name string, col arrow.Array, spec castSpec) (arrow.Array, error) {
	if arrow.TypeEqual(col.DataType(), spec.to) {
		col.Retain()
		return col, nil
	}
	if d, ok := col.DataType().(*arrow.DictionaryType); ok {
		if arrow.TypeEqual(d.ValueType, spec.to) {
			return compute.CastArray(ctx, col, compute.SafeCastOptions(spec.to))
		}
		// Decode first, so that errors name the row, not the dictionary entry.
		plain, err := compute.CastArray(ctx, col, compute.SafeCastOptions(d.ValueType))
		if err != nil {
			return nil, fmt.Errorf("column %q: decoding the dictionary: %w", name, err)
		}
		defer plain.Release()
		col = plain
	}
	from := col.DataType()
	switch {
	case arrow.TypeEqual(from, spec.to):
		col.Retain()
		return col, nil
	case isUUID(from) || isUUID(spec.to):
		return c.castUUID(ctx, name, col, spec)
	case isJSON(from) || isJSON(spec.to):
		return c.castJSON(ctx, name, col, spec)
	case isString(from) && (isTemporal(spec.to) || isDecimal(spec.to)):
		return c.parse(ctx, name, col, spec)
	case isTemporal(from) && isString(spec.to):
		return c.formatTimes(name, col, spec)
	case isDecimal(from) && isString(spec.to):
		return c.formatDecimals(col, spec.to)
	case smallRescale(from, spec.to):
		return c.rescaleDecimals(name, col.(*array.Decimal128), spec.to.(*arrow.Decimal128Type))
	case isString(spec.to) && (arrow.IsInteger(from.ID()) || arrow.IsFloating(from.ID()) || from.ID() == arrow.BOOL):
		// arrow-go v18.8.0's number-to-string cast leaks part of its buffers, so numbers are written here.
		return c.formatNumbers(col, spec.to)
	}
	return c.arrowCast(ctx, name, col, spec.to, 0)
}

// arrowCast runs Arrow's cast kernel. When it fails it finds out which rows fail by casting halves: safe casts
// report the first failing row and its value; unsafe casts allow truncation and turn the failing rows (overflow,
// unparsable) into nulls. rowBase is the row number of col's first row in the batch, for errors.
func (c *caster) arrowCast(ctx context.Context, name string, col arrow.Array, to arrow.DataType, rowBase int) (arrow.Array, error) {
	opts := compute.SafeCastOptions(to)
	if !c.safe {
		opts.AllowTimeTruncate, opts.AllowDecimalTruncate, opts.AllowFloatTruncate = true, true, true
	}
	out, err := compute.CastArray(ctx, col, opts)
	if err == nil {
		if !c.safe {
			// Arrow's truncating casts let some overflows through as garbage; those become nulls too.
			return nullOverflow(c.mem, col, out)
		}
		return out, nil
	}
	if col.Len() == 1 {
		if c.safe {
			return nil, castError(name, rowBase, col, to, err)
		}
		return array.MakeArrayOfNull(c.mem, to, 1), nil
	}
	if errors.Is(err, arrow.ErrNotImplemented) || col.Len() == 0 {
		return nil, fmt.Errorf("column %q: casting %s to %s: %w", name, arrowtype.Format(col.DataType()), arrowtype.Format(to), err)
	}
	half := col.Len() / 2
	parts := make([]arrow.Array, 0, 2)
	defer func() { releaseAll(parts) }()
	for _, r := range [][2]int{{0, half}, {half, col.Len()}} {
		s := array.NewSlice(col, int64(r[0]), int64(r[1]))
		p, err := c.arrowCast(ctx, name, s, to, rowBase+r[0])
		s.Release()
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return array.Concatenate(parts, c.mem)
}

// castError names the column, row and value a safe cast failed on, and Arrow's reason.
func castError(name string, row int, col arrow.Array, to arrow.DataType, err error) error {
	reason := strings.TrimPrefix(err.Error(), "invalid: ")
	if strings.Contains(reason, "%!") { // some Arrow kernels format a nil error into their message
		reason = "it does not fit without loss"
	}
	return fmt.Errorf("column %q, row %d: cannot cast %s value %s to %s (%s); fix the data, choose a wider type, or set safe: false to truncate and turn such values into nulls",
		name, row, arrowtype.Format(col.DataType()), quoteValue(col, 0), arrowtype.Format(to), reason)
}

func quoteValue(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return "null"
	}
	if dt, ok := col.DataType().(arrow.DecimalType); ok { // with every digit of the scale: 12.50, not 12.5
		switch a := col.(type) {
		case *array.Decimal32:
			return a.Value(i).ToString(dt.GetScale())
		case *array.Decimal64:
			return a.Value(i).ToString(dt.GetScale())
		case *array.Decimal128:
			return a.Value(i).ToString(dt.GetScale())
		case *array.Decimal256:
			return a.Value(i).ToString(dt.GetScale())
		}
	}
	v := col.ValueStr(i)
	if isString(valueType(col.DataType())) {
		return strconv.Quote(v)
	}
	return v
}

// parseFailure handles a string that does not parse: an error naming it in safe mode, a null otherwise.
func (c *caster) parseFailure(name string, row int, s string, to arrow.DataType, why string, appendNull func()) error {
	if c.safe {
		return fmt.Errorf("column %q, row %d: cannot parse %q as %s: %s; fix the data or the format, or set safe: false to turn such values into nulls",
			name, row, s, arrowtype.Format(to), why)
	}
	appendNull()
	return nil
}

// eachString calls fn with the text of every value (nil-safe: null says so). The text aliases the array's buffer
// and is only valid during the call, which spares a copy per value.
func eachString(col arrow.Array, fn func(i int, s string, null bool) error) error {
	switch a := col.(type) {
	case *array.String:
		return eachOffset(a, a.ValueOffsets(), a.ValueBytes(), fn)
	case *array.LargeString:
		return eachOffset(a, a.ValueOffsets(), a.ValueBytes(), fn)
	}
	return fmt.Errorf("internal error: %s is not a string array", col.DataType())
}

func eachOffset[O int32 | int64](a arrow.Array, offs []O, data []byte, fn func(i int, s string, null bool) error) error {
	base := O(0)
	if len(offs) > 0 {
		base = offs[0]
	}
	valid := validityOf(a)
	for i := range a.Len() {
		if valid.null(i) {
			if err := fn(i, "", true); err != nil {
				return err
			}
			continue
		}
		v := data[offs[i]-base : offs[i+1]-base]
		if err := fn(i, unsafe.String(unsafe.SliceData(v), len(v)), false); err != nil {
			return err
		}
	}
	return nil
}

// defaultLayouts are tried in order when a string column is parsed into a timestamp without a format. Go's
// parser accepts a fraction of a second after the seconds even though the layouts do not spell one.
var defaultLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// parse converts a string column to a date, timestamp or decimal.
func (c *caster) parse(ctx context.Context, name string, col arrow.Array, spec castSpec) (arrow.Array, error) {
	if isDecimal(spec.to) {
		return c.parseDecimals(ctx, name, col, spec.to)
	}
	to := spec.to
	layouts := defaultLayouts
	if spec.layout != "" {
		layouts = []string{spec.layout}
	}
	loc := time.UTC
	var unit time.Duration
	switch t := to.(type) {
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			l, err := t.GetZone()
			if err != nil {
				return nil, fmt.Errorf("column %q: zone of %s: %w", name, arrowtype.Format(to), err)
			}
			loc = l
		}
		unit = t.Unit.Multiplier()
	case *arrow.Date32Type:
		unit = 24 * time.Hour
	case *arrow.Date64Type:
		unit = 24 * time.Hour // date64 holds milliseconds, but of whole days
	}
	n := col.Len()
	values := memory.NewResizableBuffer(c.mem)
	defer values.Release()
	var v32 []int32
	var v64 []int64
	if to.ID() == arrow.DATE32 {
		values.Resize(arrow.Int32Traits.BytesRequired(n))
		v32 = arrow.Int32Traits.CastFromBytes(values.Bytes())
	} else {
		values.Resize(arrow.Int64Traits.BytesRequired(n))
		v64 = arrow.Int64Traits.CastFromBytes(values.Bytes())
	}
	clear(values.Bytes())                   // null slots hold 0, so equal inputs give equal bytes
	valid := array.NewBooleanBuilder(c.mem) // validity, built as booleans then taken as the bitmap
	defer valid.Release()
	valid.Reserve(n)
	nulls := 0
	appendNull := func() { valid.UnsafeAppend(false); nulls++ }
	err := eachString(col, func(i int, s string, null bool) error {
		if null {
			appendNull()
			return nil
		}
		s = strings.TrimSpace(s)
		var t time.Time
		var err error
		for _, l := range layouts {
			if t, err = time.ParseInLocation(l, s, loc); err == nil {
				break
			}
		}
		if err != nil {
			why := "it matches no ISO 8601 form (2026-11-22T10:00:00Z, 2026-11-22 10:00:00, 2026-11-22)"
			if spec.layout != "" {
				why = fmt.Sprintf("it does not match the format %q", spec.layout)
			}
			return c.parseFailure(name, i, s, to, why, appendNull)
		}
		if unit == time.Nanosecond && (t.Year() < 1678 || t.Year() > 2261) {
			return c.parseFailure(name, i, s, to, "nanosecond timestamps hold the years 1678 to 2261 only", appendNull)
		}
		if c.safe && lostBelow(t, unit) {
			return c.parseFailure(name, i, s, to, "it is more precise than the type holds", appendNull)
		}
		switch to.ID() {
		case arrow.DATE32:
			v32[i] = int32(civil.FloorDiv(t.Unix()+offsetOf(t), 86400))
		case arrow.DATE64:
			v64[i] = civil.FloorDiv(t.Unix()+offsetOf(t), 86400) * 86400000
		default:
			v64[i] = toUnit(t, unit)
		}
		valid.UnsafeAppend(true)
		return nil
	})
	if err != nil {
		return nil, err
	}
	bits := valid.NewBooleanArray()
	defer bits.Release()
	var bitmap *memory.Buffer
	if nulls > 0 {
		bitmap = bits.Data().Buffers()[1]
	}
	d := array.NewData(to, n, []*memory.Buffer{bitmap, values}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// lostBelow says whether t has a part finer than unit (a date: a time of day other than midnight).
func lostBelow(t time.Time, unit time.Duration) bool {
	if unit >= 24*time.Hour {
		h, m, s := t.Clock()
		return h != 0 || m != 0 || s != 0 || t.Nanosecond() != 0
	}
	return time.Duration(t.Nanosecond())%unit != 0
}

// offsetOf is the zone offset of t in seconds, so that a date is the calendar day written, not the UTC one.
func offsetOf(t time.Time) int64 {
	_, off := t.Zone()
	return int64(off)
}

func toUnit(t time.Time, unit time.Duration) int64 {
	switch unit {
	case time.Second:
		return t.Unix()
	case time.Millisecond:
		return t.UnixMilli()
	case time.Microsecond:
		return t.UnixMicro()
	}
	return t.UnixNano()
}

// parseDecimals parses strings exactly into a wide decimal (38 or 76 digits, with as many fractional digits as
// the batch needs), then lets Arrow's decimal cast check precision and scale like any decimal change.
func (c *caster) parseDecimals(ctx context.Context, name string, col arrow.Array, to arrow.DataType) (arrow.Array, error) {
	dt := to.(arrow.DecimalType)
	wide := int32(38)
	if to.ID() == arrow.DECIMAL256 {
		wide = 76
	}
	frac := dt.GetScale()
	_ = eachString(col, func(_ int, s string, null bool) error {
		if _, f, ok := strings.Cut(strings.TrimSpace(s), "."); ok && !null {
			frac = max(frac, int32(len(f)))
		}
		return nil
	})
	frac = min(frac, wide-(dt.GetPrecision()-dt.GetScale()))
	var midType arrow.DataType = &arrow.Decimal128Type{Precision: wide, Scale: frac}
	if wide == 76 {
		midType = &arrow.Decimal256Type{Precision: wide, Scale: frac}
	}
	b := array.NewBuilder(c.mem, midType)
	defer b.Release()
	b.Reserve(col.Len())
	err := eachString(col, func(i int, s string, null bool) error {
		if null {
			b.AppendNull()
			return nil
		}
		s = strings.TrimSpace(s)
		var err error
		switch b := b.(type) {
		case *array.Decimal128Builder:
			var n decimal128.Num
			if n, err = decimal128.FromString(s, wide, frac); err == nil {
				b.UnsafeAppend(n)
			}
		case *array.Decimal256Builder:
			var n decimal256.Num
			if n, err = decimal256.FromString(s, wide, frac); err == nil {
				b.UnsafeAppend(n)
			}
		}
		if err != nil {
			return c.parseFailure(name, i, s, to, "it is not a decimal number", b.AppendNull)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	mid := b.NewArray()
	defer mid.Release()
	out, err := c.arrowCast(ctx, name, mid, to, 0)
	if err != nil {
		// Name the text as written rather than its wide decimal form.
		return nil, fmt.Errorf("%w (the value is the text at that row of the string column)", err)
	}
	return out, nil
}

// formatTimes writes dates and timestamps as text, in the timestamp's zone when it has one.
func (c *caster) formatTimes(name string, col arrow.Array, spec castSpec) (arrow.Array, error) {
	b := array.NewBuilder(c.mem, spec.to)
	defer b.Release()
	var bb *array.BinaryBuilder
	switch b := b.(type) {
	case *array.StringBuilder:
		bb = b.BinaryBuilder
	case *array.LargeStringBuilder:
		bb = b.BinaryBuilder
	}
	n := col.Len()
	bb.Reserve(n)
	layout := spec.layout
	var buf []byte
	valid := validityOf(col)
	emit := func(i int, t time.Time) {
		if valid.null(i) {
			bb.AppendNull()
			return
		}
		buf = t.AppendFormat(buf[:0], layout)
		bb.Append(buf)
	}
	switch a := col.(type) {
	case *array.Timestamp:
		dt := a.DataType().(*arrow.TimestampType)
		loc := time.UTC
		if dt.TimeZone != "" {
			l, err := dt.GetZone()
			if err != nil {
				return nil, fmt.Errorf("column %q: zone of %s: %w", name, arrowtype.Format(dt), err)
			}
			loc = l
		}
		if layout == "" {
			layout = "2006-01-02T15:04:05" + map[arrow.TimeUnit]string{arrow.Second: "", arrow.Millisecond: ".000", arrow.Microsecond: ".000000", arrow.Nanosecond: ".000000000"}[dt.Unit]
			if dt.TimeZone != "" {
				layout += "Z07:00"
			}
		}
		mult := int64(dt.Unit.Multiplier())
		for i, v := range a.TimestampValues() {
			emit(i, time.Unix(civil.FloorDiv(int64(v), int64(time.Second)/mult), floorMod(int64(v), int64(time.Second)/mult)*mult).In(loc))
		}
	case *array.Date32:
		if layout == "" {
			layout = "2006-01-02"
		}
		for i, v := range a.Date32Values() {
			emit(i, time.Unix(int64(v)*86400, 0).UTC())
		}
	case *array.Date64:
		if layout == "" {
			layout = "2006-01-02"
		}
		for i, v := range a.Date64Values() {
			emit(i, time.UnixMilli(int64(v)).UTC())
		}
	default:
		return nil, fmt.Errorf("column %q: internal error: %s is not a date or timestamp", name, col.DataType())
	}
	return b.NewArray(), nil
}

func floorMod(a, b int64) int64 { return a - civil.FloorDiv(a, b)*b }

// formatDecimals writes decimals as plain text with all their scale's digits (12.50 stays "12.50").
func (c *caster) formatDecimals(col arrow.Array, to arrow.DataType) (arrow.Array, error) {
	b := array.NewBuilder(c.mem, to)
	defer b.Release()
	b.Reserve(col.Len())
	var bb *array.BinaryBuilder
	switch b := b.(type) {
	case *array.StringBuilder:
		bb = b.BinaryBuilder
	case *array.LargeStringBuilder:
		bb = b.BinaryBuilder
	}
	scale := col.DataType().(arrow.DecimalType).GetScale()
	switch a := col.(type) {
	case *array.Decimal32:
		formatDecimalValues(bb, a, a.Values(), scale)
	case *array.Decimal64:
		formatDecimalValues(bb, a, a.Values(), scale)
	case *array.Decimal128:
		formatDecimalValues(bb, a, a.Values(), scale)
	case *array.Decimal256:
		formatDecimalValues(bb, a, a.Values(), scale)
	}
	return b.NewArray(), nil
}

type decimalNum interface {
	ToString(scale int32) string
	FitsInPrecision(prec int32) bool
}

func formatDecimalValues[T decimalNum](bb *array.BinaryBuilder, a arrow.Array, vals []T, scale int32) {
	valid := validityOf(a)
	for i, v := range vals {
		if valid.null(i) {
			bb.AppendNull()
			continue
		}
		bb.AppendString(v.ToString(scale))
	}
}

// nullOverflow turns into nulls the values of out (a truncating cast of src) that overflowed: floats out of the
// integer type's range, and decimals with more digits than the precision.
func nullOverflow(mem memory.Allocator, src, out arrow.Array) (arrow.Array, error) {
	var bad func(i int) bool
	switch o := out.(type) {
	case *array.Decimal32:
		bad = tooManyDigits(o.Values(), o.DataType())
	case *array.Decimal64:
		bad = tooManyDigits(o.Values(), o.DataType())
	case *array.Decimal128:
		bad = tooManyDigits(o.Values(), o.DataType())
	case *array.Decimal256:
		bad = tooManyDigits(o.Values(), o.DataType())
	default:
		if !arrow.IsInteger(out.DataType().ID()) {
			return out, nil
		}
		lo, hi := integerRange(out.DataType())
		switch s := src.(type) {
		case *array.Float64:
			vs := s.Float64Values()
			bad = func(i int) bool { v := vs[i]; return !(v > lo && v < hi) }
		case *array.Float32:
			vs := s.Float32Values()
			bad = func(i int) bool { v := float64(vs[i]); return !(v > lo && v < hi) }
		default:
			return out, nil
		}
	}
	return setNulls(mem, out, bad)
}

func tooManyDigits[T decimalNum](vals []T, dt arrow.DataType) func(int) bool {
	prec := dt.(arrow.DecimalType).GetPrecision()
	return func(i int) bool { return !vals[i].FitsInPrecision(prec) }
}

// integerRange is the open interval of floats that truncate into an integer type.
func integerRange(dt arrow.DataType) (lo, hi float64) {
	bits := dt.(arrow.FixedWidthDataType).BitWidth()
	if arrow.IsUnsignedInteger(dt.ID()) {
		return -1, math.Ldexp(1, bits)
	}
	return -math.Ldexp(1, bits-1) - 1, math.Ldexp(1, bits-1)
}

// setNulls returns arr with the rows where bad is true made null (arr itself, released, when there are none).
func setNulls(mem memory.Allocator, arr arrow.Array, bad func(i int) bool) (arrow.Array, error) {
	n, off := arr.Len(), arr.Data().Offset()
	var bitmap *memory.Buffer // at the same bit offset as the array's data
	for i := range n {
		if arr.IsNull(i) || !bad(i) {
			continue
		}
		if bitmap == nil {
			bitmap = memory.NewResizableBuffer(mem)
			bitmap.Resize(int(bitutil.BytesForBits(int64(off + n))))
			bitutil.SetBitsTo(bitmap.Bytes(), int64(off), int64(n), true)
			if vb := arr.NullBitmapBytes(); vb != nil && arr.NullN() > 0 {
				bitutil.CopyBitmap(vb, off, n, bitmap.Bytes(), off)
			}
		}
		bitutil.ClearBit(bitmap.Bytes(), off+i)
	}
	if bitmap == nil {
		return arr, nil
	}
	defer bitmap.Release()
	defer arr.Release()
	nulls := n - bitutil.CountSetBits(bitmap.Bytes(), off, n)
	d := arr.Data()
	bufs := append([]*memory.Buffer{bitmap}, d.Buffers()[1:]...)
	nd := array.NewData(d.DataType(), n, bufs, d.Children(), nulls, off)
	defer nd.Release()
	return array.MakeFromData(nd), nil
}

// formatNumbers writes integers, floats (shortest form that reads back exactly) and booleans as text.
func (c *caster) formatNumbers(col arrow.Array, to arrow.DataType) (arrow.Array, error) {
	b := array.NewBuilder(c.mem, to)
	defer b.Release()
	b.Reserve(col.Len())
	var bb *array.BinaryBuilder
	switch b := b.(type) {
	case *array.StringBuilder:
		bb = b.BinaryBuilder
	case *array.LargeStringBuilder:
		bb = b.BinaryBuilder
	}
	var buf []byte
	switch a := col.(type) {
	case *array.Int8:
		appendNumbers(bb, a, a.Int8Values(), &buf, func(b []byte, v int8) []byte { return strconv.AppendInt(b, int64(v), 10) })
	case *array.Int16:
		appendNumbers(bb, a, a.Int16Values(), &buf, func(b []byte, v int16) []byte { return strconv.AppendInt(b, int64(v), 10) })
	case *array.Int32:
		appendNumbers(bb, a, a.Int32Values(), &buf, func(b []byte, v int32) []byte { return strconv.AppendInt(b, int64(v), 10) })
	case *array.Int64:
		appendNumbers(bb, a, a.Int64Values(), &buf, func(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) })
	case *array.Uint8:
		appendNumbers(bb, a, a.Uint8Values(), &buf, func(b []byte, v uint8) []byte { return strconv.AppendUint(b, uint64(v), 10) })
	case *array.Uint16:
		appendNumbers(bb, a, a.Uint16Values(), &buf, func(b []byte, v uint16) []byte { return strconv.AppendUint(b, uint64(v), 10) })
	case *array.Uint32:
		appendNumbers(bb, a, a.Uint32Values(), &buf, func(b []byte, v uint32) []byte { return strconv.AppendUint(b, uint64(v), 10) })
	case *array.Uint64:
		appendNumbers(bb, a, a.Uint64Values(), &buf, func(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) })
	case *array.Float32:
		appendNumbers(bb, a, a.Float32Values(), &buf, func(b []byte, v float32) []byte { return strconv.AppendFloat(b, float64(v), 'g', -1, 32) })
	case *array.Float64:
		appendNumbers(bb, a, a.Float64Values(), &buf, func(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'g', -1, 64) })
	case *array.Boolean:
		valid := validityOf(a)
		for i := range a.Len() {
			if valid.null(i) {
				bb.AppendNull()
			} else {
				bb.AppendString(strconv.FormatBool(a.Value(i)))
			}
		}
	default:
		return nil, fmt.Errorf("internal error: cannot write %s as text", col.DataType())
	}
	return b.NewArray(), nil
}

// appendNumbers formats each value with format into one reused buffer, so no value allocates.
func appendNumbers[T any](bb *array.BinaryBuilder, a arrow.Array, vs []T, buf *[]byte, format func([]byte, T) []byte) {
	valid := validityOf(a)
	for i, v := range vs {
		if valid.null(i) {
			bb.AppendNull()
			continue
		}
		*buf = format((*buf)[:0], v)
		bb.Append(*buf)
	}
}
