package jsonarrow

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/jetflow-dev/jetflow/arrowtype"
)

// Class is what a column needs to know of a JSON value before reading it: which token its first byte starts.
type Class uint8

const (
	Invalid Class = iota // no JSON value starts with the byte
	NullValue
	StringValue
	NumberValue
	BoolValue
	NestedValue // an object or an array
)

var classOf = func() (t [256]Class) {
	t['n'], t['"'], t['t'], t['f'], t['{'], t['['] = NullValue, StringValue, BoolValue, BoolValue, NestedValue, NestedValue
	t['-'] = NumberValue
	for c := '0'; c <= '9'; c++ {
		t[c] = NumberValue
	}
	return t
}()

// ClassOf is the class of the JSON value that starts with c.
func ClassOf(c byte) Class { return classOf[c] }

// True and False are the text of the literals, for a text column that keeps them.
var (
	True  = []byte("true")
	False = []byte("false")
)

// scalar is the row of one Arrow type in the table of the types a Column reads: which values it takes, how it
// binds its builder, and how it appends a token. A table instead of a switch per operation, so that a type is
// added in one place for both decoders.
type scalar struct {
	accepts uint8 // 1<<Class of the values read into the type (null always is)
	bind    func(c *Column, b array.Builder)
	append  func(c *Column, cl Class, tok []byte) error
}

func classes(cs ...Class) (m uint8) {
	for _, c := range cs {
		m |= 1 << c
	}
	return m
}

var scalars = func() (t [64]*scalar) {
	// A text column takes whatever value comes, even one that is not JSON: the decoder's scanner says why.
	text := classes(Invalid, StringValue, NumberValue, BoolValue, NestedValue)
	bindBinary := func(c *Column, b array.Builder) {
		switch b := b.(type) {
		case *array.StringBuilder:
			c.bin = b.BinaryBuilder
		case *array.LargeStringBuilder:
			c.bin = b.BinaryBuilder
		default:
			c.bin = b.(*array.BinaryBuilder)
		}
	}
	appendBinary := func(c *Column, _ Class, tok []byte) error { c.bin.Append(tok); return nil }
	t[arrow.INT32] = &scalar{classes(NumberValue), func(c *Column, b array.Builder) { c.i32 = b.(*array.Int32Builder) }, appendInt}
	t[arrow.INT64] = &scalar{classes(NumberValue), func(c *Column, b array.Builder) { c.i64 = b.(*array.Int64Builder) }, appendInt}
	t[arrow.FLOAT32] = &scalar{classes(NumberValue), func(c *Column, b array.Builder) { c.f32 = b.(*array.Float32Builder) }, appendFloat}
	t[arrow.FLOAT64] = &scalar{classes(NumberValue), func(c *Column, b array.Builder) { c.f64 = b.(*array.Float64Builder) }, appendFloat}
	t[arrow.BOOL] = &scalar{classes(BoolValue), func(c *Column, b array.Builder) { c.bo = b.(*array.BooleanBuilder) },
		func(c *Column, _ Class, tok []byte) error { c.bo.Append(len(tok) == len(True)); return nil }}
	// Text columns keep any value other than a string as its compact JSON text, so nothing read is lost.
	t[arrow.STRING] = &scalar{text, bindBinary, appendBinary}
	t[arrow.LARGE_STRING] = &scalar{text, bindBinary, appendBinary}
	t[arrow.BINARY] = &scalar{classes(StringValue), bindBinary, appendBinary}
	t[arrow.DATE32] = &scalar{classes(StringValue), func(c *Column, b array.Builder) { c.d32 = b.(*array.Date32Builder) }, appendDate}
	t[arrow.TIMESTAMP] = &scalar{classes(StringValue, NumberValue), func(c *Column, b array.Builder) {
		c.ts, c.unit = b.(*array.TimestampBuilder), c.DT.(*arrow.TimestampType).Unit
	}, appendTimestamp}
	t[arrow.DECIMAL128] = &scalar{classes(StringValue, NumberValue), func(c *Column, b array.Builder) {
		d := c.DT.(*arrow.Decimal128Type)
		c.dec, c.Precision, c.Scale = b.(*array.Decimal128Builder), d.Precision, d.Scale
	}, appendDecimal}
	return t
}()

func scalarOf(dt arrow.DataType) *scalar {
	if id := dt.ID(); int(id) < len(scalars) {
		return scalars[id]
	}
	return nil
}

// CheckType tells whether JSON values can be read into dt: a type of the table, or lists and structs of them.
func CheckType(dt arrow.DataType) error {
	switch t := dt.(type) {
	case *arrow.ListType:
		return CheckType(t.Elem())
	case *arrow.StructType:
		for _, f := range t.Fields() {
			if err := CheckType(f.Type); err != nil {
				return err
			}
		}
		return nil
	}
	if scalarOf(dt) != nil {
		return nil
	}
	return fmt.Errorf("type %s is not read from JSON; use int32, int64, float32, float64, bool, string, large_string, binary, date32, timestamp, decimal(p,s), list or struct", arrowtype.Format(dt))
}

// Column appends JSON scalars to an Arrow builder: the conversions from JSON text to Arrow values that the JSON
// decoders share. A decoder reads the token with its own scanner (a string's unescaped bytes, a number's text,
// a literal, or a text column's other values as compact JSON) and hands it to Append; lists and structs it builds
// itself.
type Column struct {
	Name string // dotted, for errors
	DT   arrow.DataType
	ID   arrow.Type // DT's, without an interface call
	B    array.Builder

	op  *scalar
	i32 *array.Int32Builder
	i64 *array.Int64Builder
	f32 *array.Float32Builder
	f64 *array.Float64Builder
	bo  *array.BooleanBuilder
	bin *array.BinaryBuilder // string, large_string, binary
	d32 *array.Date32Builder
	ts  *array.TimestampBuilder
	dec *array.Decimal128Builder

	unit      arrow.TimeUnit
	Precision int32 // decimal
	Scale     int32
}

// NewColumn binds a column of a scalar type dt (CheckType passed, not a list or struct) onto its builder b.
func NewColumn(name string, dt arrow.DataType, b array.Builder) *Column {
	op := scalarOf(dt)
	if op == nil {
		panic("jsonarrow: NewColumn on unchecked type " + dt.String())
	}
	c := &Column{Name: name, DT: dt, ID: dt.ID(), B: b, op: op}
	op.bind(c, b)
	return c
}

// IsScalar tells whether dt is read by a Column (rather than a list or struct).
func IsScalar(dt arrow.DataType) bool { return scalarOf(dt) != nil }

// Accepts tells whether a value of class cl is read into the column; null always is (AppendNull).
func (c *Column) Accepts(cl Class) bool { return c.op.accepts&(1<<cl) != 0 }

// Append appends the token of a value of class cl, which the column accepts: a string's bytes, a number's text,
// True or False, or (a text column) an object's or array's compact JSON text. On error it appends nothing.
func (c *Column) Append(cl Class, tok []byte) error { return c.op.append(c, cl, tok) }

// AppendNull appends a null.
func (c *Column) AppendNull() { c.B.AppendNull() }

// Token reads the token of a value of class cl (not null) for Append: a string's unescaped bytes, a number's
// text, True or False, or (an object or array, for a text column) the value's text, appended to raw's
// scratch. The decoders' own fast paths read their usual values without it.
func Token(s Scanner, cl Class, raw *[]byte, depth int) ([]byte, error) {
	switch cl {
	case StringValue:
		return s.Str()
	case NumberValue:
		return s.Number()
	case BoolValue:
		k, err := s.Literal()
		if k == 't' {
			return True, err
		}
		return False, err
	}
	*raw = (*raw)[:0]
	err := s.Skip(raw, depth)
	return *raw, err
}

// Int64 is an int64 column's builder, for a decoder's fast path to append to inline (AppendInt64 is a call).
func (c *Column) Int64() *array.Int64Builder { return c.i64 }

// Decimal is a decimal column's builder, likewise.
func (c *Column) Decimal() *array.Decimal128Builder { return c.dec }

// AppendInt64 appends v to an int64 column, without the growth check while the batch's reservation lasts.
func (c *Column) AppendInt64(v int64) {
	if c.i64.Len() < c.i64.Cap() {
		c.i64.UnsafeAppend(v)
	} else {
		c.i64.Append(v)
	}
}

// AppendDecimal appends the scaled value v to a decimal column, as AppendInt64 does.
func (c *Column) AppendDecimal(v decimal128.Num) {
	if c.dec.Len() < c.dec.Cap() {
		c.dec.UnsafeAppend(v)
	} else {
		c.dec.Append(v)
	}
}

func appendInt(c *Column, _ Class, b []byte) error {
	v, ok := ParseInt(b)
	if !ok {
		// 3.0 is a whole number written as a float; anything else is not an integer of this column.
		f, ferr := strconv.ParseFloat(Bstr(b), 64)
		whole := ferr == nil && f == math.Trunc(f)
		switch {
		case whole && math.Abs(f) <= 1<<53:
			v = int64(f)
		case whole || errors.Is(ferr, strconv.ErrRange) || !bytes.ContainsAny(b, ".eE"):
			return fmt.Errorf("field %s: %s overflows %s", c.Name, b, arrowtype.Format(c.DT))
		default:
			return fmt.Errorf("field %s: %s is not an integer", c.Name, b)
		}
	}
	if c.i32 != nil {
		if v < math.MinInt32 || v > math.MaxInt32 {
			return fmt.Errorf("field %s: %d overflows int32", c.Name, v)
		}
		c.i32.Append(int32(v))
		return nil
	}
	c.AppendInt64(v)
	return nil
}

func appendFloat(c *Column, _ Class, b []byte) error {
	var f float64
	if i, ok := ParseInt(b); ok && i > -1<<53 && i < 1<<53 {
		f = float64(i)
	} else {
		var err error
		if f, err = strconv.ParseFloat(Bstr(b), 64); err != nil {
			return fmt.Errorf("field %s: %s overflows float64", c.Name, b)
		}
	}
	if c.f32 != nil {
		if f32 := float32(f); math.IsInf(float64(f32), 0) {
			return fmt.Errorf("field %s: %s overflows float32", c.Name, b)
		}
		c.f32.Append(float32(f))
		return nil
	}
	c.f64.Append(f)
	return nil
}

func appendDate(c *Column, _ Class, b []byte) error {
	t, err := time.Parse(time.DateOnly, Bstr(b))
	if err != nil {
		return fmt.Errorf("field %s: %q is not a date (want 2006-01-02)", c.Name, b)
	}
	c.d32.Append(arrow.Date32FromTime(t))
	return nil
}

func appendTimestamp(c *Column, cl Class, b []byte) error {
	if cl == NumberValue {
		i, ok := ParseInt(b)
		if !ok {
			return fmt.Errorf("field %s: %s is not a whole epoch number", c.Name, b)
		}
		c.ts.Append(arrow.Timestamp(i))
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, Bstr(b))
	if err != nil {
		return fmt.Errorf("field %s: %q is not an RFC 3339 time", c.Name, b)
	}
	ts, err := arrow.TimestampFromTime(t, c.unit)
	if err != nil {
		return fmt.Errorf("field %s: %w", c.Name, err)
	}
	c.ts.Append(ts)
	return nil
}

func appendDecimal(c *Column, _ Class, b []byte) error {
	d, ok := ParseDecimal(b, c.Precision, c.Scale)
	var err error
	if !ok {
		d, err = decimal128.FromString(Bstr(b), c.Precision, c.Scale)
	}
	if err == nil && !d.FitsInPrecision(c.Precision) {
		err = errors.New("too many digits")
	}
	if err != nil {
		return fmt.Errorf("field %s: %q overflows decimal(%d,%d)", c.Name, b, c.Precision, c.Scale)
	}
	c.AppendDecimal(d)
	return nil
}

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// ParseDecimal parses plain decimal text ("-12.5") of up to 18 significant digits exactly, the common case,
// without decimal128.FromString's big.Float. ok is false for anything else (exponents, more digits, fraction
// digits beyond scale), which the caller hands to FromString.
func ParseDecimal(b []byte, precision, scale int32) (decimal128.Num, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var v int64
	digits, frac := 0, -1
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits > 0 || c != '0' {
				digits++
			}
			if digits > 18 {
				return decimal128.Num{}, false
			}
			v = v*10 + int64(c-'0')
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return decimal128.Num{}, false
		}
	}
	if frac < 0 {
		frac = 0
	}
	if len(b) == 0 || int32(frac) > scale || scale > 18 {
		return decimal128.Num{}, false
	}
	shift := int(scale) - frac
	if digits+shift > 18 {
		return decimal128.Num{}, false
	}
	v *= pow10[shift]
	if neg {
		v = -v
	}
	return decimal128.FromI64(v), true
}

// PlainDecimal reads a JSON number at pos written plainly (no exponent, no leading zero, at most scale fraction
// digits, at most 18 digits in all once scaled) that fits decimal(precision, scale), and returns it scaled and the
// position after it; ok is false for anything else, left to the general path. With scale 0 and precision 19 it
// reads the plain integers of up to 18 digits. It is the fast path of a decoder that holds the whole message.
func PlainDecimal(b []byte, pos int, precision, scale int32) (v int64, end int, ok bool) {
	if scale < 0 || scale > 18 {
		return 0, 0, false
	}
	i := pos
	neg := b[i] == '-'
	if neg {
		i++
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	whole := i - start
	if whole == 0 || whole > 1 && b[start] == '0' {
		return 0, 0, false
	}
	frac := 0
	if i < len(b) && b[i] == '.' {
		i++
		f := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-f < 19 {
			v = v*10 + int64(b[i]-'0')
			i++
		}
		if frac = i - f; frac == 0 {
			return 0, 0, false
		}
	}
	if i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == 'e' || b[i] == 'E' || b[i] == '.') ||
		int32(frac) > scale || whole+int(scale) > 18 {
		return 0, 0, false
	}
	v *= pow10[int(scale)-frac]
	if precision <= 18 && v >= pow10[precision] {
		return 0, 0, false
	}
	if neg {
		v = -v
	}
	return v, i, true
}
