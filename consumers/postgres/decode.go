package postgres

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// PostgreSQL's epoch is 2000-01-01; Arrow's is 1970-01-01.
const (
	pgEpochDays   = 10957
	pgEpochMicros = pgEpochDays * 86400 * 1_000_000
)

// Clamped bounds for infinity: clamp (0001-01-01 and 9999-12-31 23:59:59.999999, Unix-based).
const (
	clampMinDays   = -719162
	clampMaxDays   = 2932896
	clampMinMicros = -62135596800 * 1_000_000
	clampMaxMicros = 253402300799*1_000_000 + 999_999
)

type infinityMode uint8

const (
	infError infinityMode = iota
	infNull
	infClamp
)

// decoder appends a column's binary values to one reused Arrow builder. Exactly one typed builder field is set,
// chosen by kind; the read loop calls decode once per value, which switches on kind.
type decoder struct {
	col string // column path for errors ("tags[]", "address.city")
	// top is set on a top-level column, whose builder the batcher reserves batch_rows slots in: fixed-width
	// values skip Append's capacity check. Values nested in lists and structs have no such bound.
	top  bool
	kind kind // t.kind, kept here so the per-value switch does not chase t
	t    *pgType
	inf  infinityMode
	b    array.Builder
	bl   *array.BooleanBuilder
	i16  *array.Int16Builder
	i32  *array.Int32Builder
	i64  *array.Int64Builder
	u32  *array.Uint32Builder
	f32  *array.Float32Builder
	f64  *array.Float64Builder
	dec  *array.Decimal128Builder
	bin  *array.BinaryBuilder // string and binary columns (a StringBuilder's BinaryBuilder appends bytes without a string)
	fsb  *array.FixedSizeBinaryBuilder
	d32  *array.Date32Builder
	t64  *array.Time64Builder
	ts   *array.TimestampBuilder
	iv   *array.MonthDayNanoIntervalBuilder
	list *array.ListBuilder
	st   *array.StructBuilder
	elem *decoder
	kids []*decoder
	buf  []byte // scratch for values formatted as text (numeric, inet)
	// lastData is the bytes of string or binary data in the last batch, reserved for the next one.
	lastData int
}

func newDecoder(mem memory.Allocator, col string, t *pgType, inf infinityMode) *decoder {
	b := array.NewBuilder(mem, t.dt)
	return wrapBuilder(b, col, t, inf)
}

func wrapBuilder(b array.Builder, col string, t *pgType, inf infinityMode) *decoder {
	d := &decoder{col: col, kind: t.kind, t: t, inf: inf, b: b}
	switch t.kind {
	case kBool:
		d.bl = b.(*array.BooleanBuilder)
	case kInt16:
		d.i16 = b.(*array.Int16Builder)
	case kInt32:
		d.i32 = b.(*array.Int32Builder)
	case kInt64:
		d.i64 = b.(*array.Int64Builder)
	case kOID:
		d.u32 = b.(*array.Uint32Builder)
	case kFloat32:
		d.f32 = b.(*array.Float32Builder)
	case kFloat64:
		d.f64 = b.(*array.Float64Builder)
	case kDecimal:
		d.dec = b.(*array.Decimal128Builder)
	case kNumericString, kText, kJSONB, kInet:
		// json and jsonb columns are the json extension, whose builder wraps the string storage appended to.
		if eb, ok := b.(*array.ExtensionBuilder); ok {
			b = eb.StorageBuilder()
		}
		d.bin = b.(*array.StringBuilder).BinaryBuilder
		d.buf = make([]byte, 0, 64)
	case kBytea:
		d.bin = b.(*array.BinaryBuilder)
	case kUUID:
		// The uuid extension's builder wraps the fixed-size storage the decoder appends to.
		d.fsb = b.(interface{ StorageBuilder() array.Builder }).StorageBuilder().(*array.FixedSizeBinaryBuilder)
	case kDate:
		d.d32 = b.(*array.Date32Builder)
	case kTime:
		d.t64 = b.(*array.Time64Builder)
	case kTimestamp, kTimestampTZ:
		d.ts = b.(*array.TimestampBuilder)
	case kInterval:
		d.iv = b.(*array.MonthDayNanoIntervalBuilder)
	case kList:
		d.list = b.(*array.ListBuilder)
		d.elem = wrapBuilder(d.list.ValueBuilder(), col+"[]", t.elem, inf)
	case kStruct:
		d.st = b.(*array.StructBuilder)
		for i, f := range t.fields {
			d.kids = append(d.kids, wrapBuilder(d.st.FieldBuilder(i), col+"."+f.name, f.typ, inf))
		}
	}
	return d
}

// invalidUTF8 is the error for text that is not UTF-8, which a database in the SQL_ASCII encoding sends as
// stored; the position is the first bad byte's.
func (d *decoder) invalidUTF8(v []byte) error {
	at := 0
	for at < len(v) {
		r, n := utf8.DecodeRune(v[at:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		at += n
	}
	return fmt.Errorf("column %q: %s value with invalid UTF-8 at byte %d (is the database's encoding SQL_ASCII?): read it as bytea (col::bytea) or convert it in a query (convert_from(col::bytea, 'LATIN1'))", d.col, d.t.name, at)
}

func (d *decoder) malformed(v []byte) error {
	return fmt.Errorf("column %q: malformed %s value of %d bytes from the server", d.col, d.t.name, len(v))
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// decode appends one non-null binary value.
func (d *decoder) decode(v []byte) error {
	switch d.kind {
	case kBool:
		if len(v) != 1 {
			return d.malformed(v)
		}
		if d.top {
			d.bl.UnsafeAppend(v[0] != 0)
		} else {
			d.bl.Append(v[0] != 0)
		}
	case kInt16:
		if len(v) != 2 {
			return d.malformed(v)
		}
		if d.top {
			d.i16.UnsafeAppend(int16(be16(v)))
		} else {
			d.i16.Append(int16(be16(v)))
		}
	case kInt32:
		if len(v) != 4 {
			return d.malformed(v)
		}
		if d.top {
			d.i32.UnsafeAppend(int32(be32(v)))
		} else {
			d.i32.Append(int32(be32(v)))
		}
	case kInt64:
		if len(v) != 8 {
			return d.malformed(v)
		}
		if d.top {
			d.i64.UnsafeAppend(int64(be64(v)))
		} else {
			d.i64.Append(int64(be64(v)))
		}
	case kOID:
		if len(v) != 4 {
			return d.malformed(v)
		}
		if d.top {
			d.u32.UnsafeAppend(be32(v))
		} else {
			d.u32.Append(be32(v))
		}
	case kFloat32:
		if len(v) != 4 {
			return d.malformed(v)
		}
		if d.top {
			d.f32.UnsafeAppend(math.Float32frombits(be32(v)))
		} else {
			d.f32.Append(math.Float32frombits(be32(v)))
		}
	case kFloat64:
		if len(v) != 8 {
			return d.malformed(v)
		}
		if d.top {
			d.f64.UnsafeAppend(math.Float64frombits(be64(v)))
		} else {
			d.f64.Append(math.Float64frombits(be64(v)))
		}
	case kDecimal:
		n, err := d.numericDecimal(v)
		if err != nil {
			return err
		}
		if d.top {
			d.dec.UnsafeAppend(n)
		} else {
			d.dec.Append(n)
		}
	case kNumericString:
		s, err := appendNumeric(d.buf[:0], v)
		if err != nil {
			return d.malformed(v)
		}
		d.buf = s
		d.bin.Append(s)
	case kText:
		if !utf8.Valid(v) {
			return d.invalidUTF8(v)
		}
		d.bin.Append(v)
	case kJSONB:
		if len(v) < 1 || v[0] != 1 {
			return fmt.Errorf("column %q: jsonb value in an unknown binary version", d.col)
		}
		if !utf8.Valid(v[1:]) {
			return d.invalidUTF8(v[1:])
		}
		d.bin.Append(v[1:])
	case kBytea:
		d.bin.Append(v)
	case kUUID:
		if len(v) != 16 {
			return d.malformed(v)
		}
		d.fsb.Append(v)
	case kDate:
		if len(v) != 4 {
			return d.malformed(v)
		}
		days := int32(be32(v))
		if days == math.MaxInt32 || days == math.MinInt32 {
			return d.infinity(days > 0)
		}
		if days > math.MaxInt32-pgEpochDays { // beyond any date PostgreSQL stores
			return d.malformed(v)
		}
		d.d32.Append(arrow.Date32(days + pgEpochDays))
	case kTime:
		if len(v) != 8 {
			return d.malformed(v)
		}
		d.t64.Append(arrow.Time64(be64(v)))
	case kTimestamp, kTimestampTZ:
		if len(v) != 8 {
			return d.malformed(v)
		}
		us := int64(be64(v))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return d.infinity(us > 0)
		}
		if us > math.MaxInt64-pgEpochMicros { // beyond any timestamp PostgreSQL stores
			return d.malformed(v)
		}
		if d.top {
			d.ts.UnsafeAppend(arrow.Timestamp(us + pgEpochMicros))
		} else {
			d.ts.Append(arrow.Timestamp(us + pgEpochMicros))
		}
	case kInterval:
		if len(v) != 16 {
			return d.malformed(v)
		}
		us := int64(be64(v))
		if us > math.MaxInt64/1000 || us < math.MinInt64/1000 {
			return fmt.Errorf("column %q: interval with %d microseconds does not fit Arrow's month_day_nano interval", d.col, us)
		}
		d.iv.Append(arrow.MonthDayNanoInterval{Months: int32(be32(v[12:])), Days: int32(be32(v[8:])), Nanoseconds: us * 1000})
	case kInet:
		s, err := appendInet(d.buf[:0], v)
		if err != nil {
			return d.malformed(v)
		}
		d.buf = s
		d.bin.Append(s)
	case kList:
		return d.decodeArray(v)
	case kStruct:
		return d.decodeRecord(v)
	default:
		return fmt.Errorf("column %q: no decoder for %s", d.col, d.t.name)
	}
	return nil
}

func (d *decoder) infinity(positive bool) error {
	sign := "-infinity"
	if positive {
		sign = "infinity"
	}
	switch d.inf {
	case infNull:
		d.b.AppendNull()
		return nil
	case infClamp:
		if d.t.kind == kDate {
			d.d32.Append(arrow.Date32(clampIf(positive, clampMaxDays, clampMinDays)))
		} else {
			d.ts.Append(arrow.Timestamp(clampIf(positive, clampMaxMicros, clampMinMicros)))
		}
		return nil
	}
	return fmt.Errorf("column %q holds %s, which %s cannot hold: set infinity: null or infinity: clamp, or filter it out in a query", d.col, sign, d.t.dt)
}

func clampIf(pos bool, hi, lo int64) int64 {
	if pos {
		return hi
	}
	return lo
}

// decodeArray appends a one-dimensional array (any lower bound) as a list. Multi-dimensional arrays have no
// faithful Arrow form without knowing their shape in the schema, so they are an error.
func (d *decoder) decodeArray(v []byte) error {
	if len(v) < 12 {
		return d.malformed(v)
	}
	ndim := int32(be32(v))
	v = v[12:]
	switch {
	case ndim == 0:
		d.list.Append(true) // an empty array
		return nil
	case ndim > 1:
		return fmt.Errorf("column %q holds a %d-dimensional array; only one-dimensional arrays are read: flatten it in a query (SELECT ARRAY(SELECT unnest(col)) ...)", d.col, ndim)
	case ndim < 0 || len(v) < 8:
		return d.malformed(v)
	}
	n := int(int32(be32(v)))
	v = v[8:]
	d.list.Append(true)
	for range n {
		if len(v) < 4 {
			return d.malformed(v)
		}
		l := int32(be32(v))
		v = v[4:]
		if l < 0 {
			d.elem.b.AppendNull()
			continue
		}
		if int(l) > len(v) {
			return d.malformed(v)
		}
		if err := d.elem.decode(v[:l]); err != nil {
			return err
		}
		v = v[l:]
	}
	return nil
}

// decodeRecord appends a composite value as a struct.
func (d *decoder) decodeRecord(v []byte) error {
	if len(v) < 4 {
		return d.malformed(v)
	}
	n := int(int32(be32(v)))
	if n != len(d.kids) {
		return fmt.Errorf("column %q: composite value with %d fields, its type %s has %d: was the type altered during the read?", d.col, n, d.t.name, len(d.kids))
	}
	v = v[4:]
	d.st.Append(true)
	for _, k := range d.kids {
		if len(v) < 8 {
			return d.malformed(v)
		}
		l := int32(be32(v[4:]))
		v = v[8:]
		if l < 0 {
			k.b.AppendNull()
			continue
		}
		if int(l) > len(v) {
			return d.malformed(v)
		}
		if err := k.decode(v[:l]); err != nil {
			return err
		}
		v = v[l:]
	}
	return nil
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000}

const (
	numericPos  = 0x0000
	numericNeg  = 0x4000
	numericNaN  = 0xC000
	numericPInf = 0xD000
	numericNInf = 0xF000
)

// numericDecimal converts a binary numeric (base-10000 digits) to a decimal128 of the column's precision and
// scale without allocating. A value that needs more digits, or more decimals than the scale, is an error
// naming the column and the value.
func (d *decoder) numericDecimal(v []byte) (decimal128.Num, error) {
	if len(v) < 8 {
		return decimal128.Num{}, d.malformed(v)
	}
	ndigits := int(int16(be16(v)))
	weight := int(int16(be16(v[2:])))
	sign := be16(v[4:])
	if ndigits < 0 || len(v) < 8+2*ndigits || !base10000(v[8:8+2*ndigits]) {
		return decimal128.Num{}, d.malformed(v)
	}
	if sign == numericNaN || sign == numericPInf || sign == numericNInf {
		return decimal128.Num{}, d.doesNotFit(v)
	}
	digits := v[8:]
	digit := func(i int) int64 {
		if i < 0 || i >= ndigits {
			return 0
		}
		return int64(be16(digits[2*i:]))
	}
	prec, scale := d.t.prec, int(d.t.scale)
	if ndigits == 0 {
		return decimal128.Num{}, nil
	}
	if weight >= 0 {
		lead := digit(0)
		nd := 1
		for x := lead; x >= 10; x /= 10 {
			nd++
		}
		if 4*weight+nd+scale > int(prec) {
			return decimal128.Num{}, d.doesNotFit(v)
		}
	}
	var acc decimal128.Num
	frac := 0
	p := max(weight, -1)
	for ; p >= 0 || frac < scale; p-- {
		dg := digit(weight - p)
		if p >= 0 {
			acc = acc.Mul(decimal128.FromI64(10000)).Add(decimal128.FromI64(dg))
			continue
		}
		keep := min(4, scale-frac)
		if keep < 4 {
			div := pow10[4-keep]
			if dg%div != 0 {
				return decimal128.Num{}, d.doesNotFit(v)
			}
			dg /= div
		}
		acc = acc.Mul(decimal128.FromI64(pow10[keep])).Add(decimal128.FromI64(dg))
		frac += keep
	}
	for i := weight - p; i < ndigits; i++ { // digits below the scale must be zeros
		if digit(i) != 0 {
			return decimal128.Num{}, d.doesNotFit(v)
		}
	}
	if !acc.FitsInPrecision(prec) {
		return decimal128.Num{}, d.doesNotFit(v)
	}
	if sign == numericNeg {
		acc = acc.Negate()
	}
	return acc, nil
}

// doesNotFit is the error for a numeric value outside the column's decimal type; it prints the value.
func (d *decoder) doesNotFit(v []byte) error {
	s, err := appendNumeric(nil, v)
	if err != nil {
		return d.malformed(v)
	}
	return fmt.Errorf("column %q: value %s does not fit %s (%s); widen the column's type or cast it in a query", d.col, s, d.t.dt, d.t.name)
}

// base10000 says whether every digit of a binary numeric is a base-10000 digit, as PostgreSQL writes them.
func base10000(digits []byte) bool {
	for i := 0; i+1 < len(digits); i += 2 {
		if be16(digits[i:]) > 9999 {
			return false
		}
	}
	return true
}

// appendNumeric appends the text form of a binary numeric, as PostgreSQL prints it.
func appendNumeric(dst, v []byte) ([]byte, error) {
	if len(v) < 8 {
		return dst, fmt.Errorf("short numeric")
	}
	ndigits := int(int16(be16(v)))
	weight := int(int16(be16(v[2:])))
	sign := be16(v[4:])
	dscale := int(int16(be16(v[6:])))
	if ndigits < 0 || len(v) < 8+2*ndigits || dscale < 0 {
		return dst, fmt.Errorf("short numeric")
	}
	if !base10000(v[8 : 8+2*ndigits]) {
		return dst, fmt.Errorf("numeric digit over 9999")
	}
	switch sign {
	case numericNaN:
		return append(dst, "NaN"...), nil
	case numericPInf:
		return append(dst, "Infinity"...), nil
	case numericNInf:
		return append(dst, "-Infinity"...), nil
	}
	digits := v[8:]
	digit := func(i int) uint16 {
		if i < 0 || i >= ndigits {
			return 0
		}
		return be16(digits[2*i:])
	}
	if sign == numericNeg {
		dst = append(dst, '-')
	}
	if weight < 0 {
		dst = append(dst, '0')
	} else {
		for p := weight; p >= 0; p-- {
			dg := digit(weight - p)
			if p == weight {
				dst = strconv.AppendUint(dst, uint64(dg), 10)
				continue
			}
			dst = append(dst, byte('0'+dg/1000), byte('0'+dg/100%10), byte('0'+dg/10%10), byte('0'+dg%10))
		}
	}
	if dscale > 0 {
		dst = append(dst, '.')
		for p, n := -1, 0; n < dscale; p-- {
			dg := digit(weight - p)
			for _, c := range [4]byte{byte('0' + dg/1000), byte('0' + dg/100%10), byte('0' + dg/10%10), byte('0' + dg%10)} {
				if n == dscale {
					break
				}
				dst = append(dst, c)
				n++
			}
		}
	}
	return dst, nil
}

// appendInet appends the text form of a binary inet or cidr as PostgreSQL prints it: an inet with a full
// mask prints as its address alone, a cidr always with its mask.
func appendInet(dst, v []byte) ([]byte, error) {
	if len(v) < 4 {
		return dst, fmt.Errorf("short inet")
	}
	family, bits, isCIDR, nb := v[0], v[1], v[2], int(v[3])
	if len(v) != 4+nb {
		return dst, fmt.Errorf("short inet")
	}
	var addr netip.Addr
	full := byte(32)
	switch {
	case family == 2 && nb == 4:
		addr = netip.AddrFrom4([4]byte(v[4:8]))
	case family == 3 && nb == 16:
		addr = netip.AddrFrom16([16]byte(v[4:20]))
		full = 128
	default:
		return dst, fmt.Errorf("bad inet family")
	}
	dst = addr.AppendTo(dst)
	if isCIDR != 0 || bits != full {
		dst = append(dst, '/')
		dst = strconv.AppendUint(dst, uint64(bits), 10)
	}
	return dst, nil
}
