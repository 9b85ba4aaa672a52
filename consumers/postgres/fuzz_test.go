package postgres

import (
	"encoding/binary"
	"math"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// fuzzTypes are the column types FuzzDecode decodes values of: every kind, and arrays and composites of them.
func fuzzTypes() []*pgType {
	var ts []*pgType
	for _, oid := range []uint32{oidBool, oidInt2, oidInt4, oidInt8, oidOID, oidFloat4, oidFloat8, oidText, oidJSON,
		oidJSONB, oidBytea, oidUUID, oidDate, oidTime, oidTimestamp, oidTimestampTZ, oidInterval, oidInet} {
		b := builtins[oid]
		ts = append(ts, &pgType{oid: oid, name: "t", kind: b.kind, dt: b.dt})
	}
	ts = append(ts, builtin(oidNumeric, numericMod(10, 2)), builtin(oidNumeric, -1), builtin(oidNumeric, numericMod(38, 0)))
	elem := ts[2]
	ts = append(ts, &pgType{name: "int4[]", kind: kList, dt: arrow.ListOf(elem.dt), elem: elem})
	num := ts[len(ts)-3]
	ts = append(ts, &pgType{name: "rec", kind: kStruct, dt: arrow.StructOf(
		arrow.Field{Name: "a", Type: elem.dt, Nullable: true}, arrow.Field{Name: "n", Type: num.dt, Nullable: true},
		arrow.Field{Name: "l", Type: arrow.ListOf(ts[7].dt), Nullable: true}),
		fields: []pgField{{"a", elem}, {"n", num}, {"l", &pgType{name: "text[]", kind: kList, dt: arrow.ListOf(ts[7].dt), elem: ts[7]}}}})
	return ts
}

// numericMod is the type modifier of numeric(p,s).
func numericMod(p, s int32) int32 { return p<<16 | s + 4 }

// FuzzDecode checks that no binary value makes a DataRow decoder panic, that a value is either appended (one
// row, strings in UTF-8) or refused with an error, and that counts in the value (array lengths,
// numeric digits) never drive an allocation or a loop beyond the value's bytes. Seeds are values as PostgreSQL
// sends them.
func FuzzDecode(f *testing.F) {
	be := func(words ...any) []byte {
		var b []byte
		for _, w := range words {
			switch w := w.(type) {
			case int16:
				b = binary.BigEndian.AppendUint16(b, uint16(w))
			case int32:
				b = binary.BigEndian.AppendUint32(b, uint32(w))
			case int64:
				b = binary.BigEndian.AppendUint64(b, uint64(w))
			case string:
				b = append(b, w...)
			}
		}
		return b
	}
	n := len(fuzzTypes())
	seeds := map[int][][]byte{
		0: {{1}}, 1: {be(int16(-5))}, 2: {be(int32(7))}, 3: {be(int64(math.MinInt64))}, 5: {be(int32(0x3fc00000))},
		7: {[]byte("héllo"), []byte("\xff")}, 8: {[]byte(`{"a": 1}`)}, 9: {append([]byte{1}, `{"a": 1}`...)},
		11: {make([]byte, 16)}, 12: {be(int32(math.MaxInt32)), be(int32(math.MaxInt32 - 1))},
		14: {be(int64(0)), be(int64(math.MaxInt64 - 1))}, 16: {be(int64(1), int32(2), int32(3))},
		17: {{2, 32, 0, 4, 10, 0, 0, 1}, {3, 64, 1, 16, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
		// numeric: 1234.5 (ndigits 2, weight 0, positive, dscale 1), NaN, and a digit over 9999
		18: {be(int16(2), int16(0), int16(0), int16(1), int16(1234), int16(5000)), be(int16(0), int16(0), int16(-16384), int16(0))},
		19: {be(int16(3), int16(9), int16(0x4000), int16(4), int16(1), int16(2), int16(3)), be(int16(2), int16(1), int16(0), int16(0), int16(1), int16(-1))},
		// int4[]: one dimension of 2 items, one null; and a length that claims 2^31-1 items
		21: {be(int32(1), int32(1), int32(23), int32(2), int32(1), int32(4), int32(9), int32(-1)),
			be(int32(1), int32(0), int32(23), int32(math.MaxInt32), int32(1))},
		22: {be(int32(3), int32(23), int32(4), int32(5), int32(1700), int32(-1), int32(25), int32(-1))},
	}
	for i, vs := range seeds {
		for _, v := range vs {
			f.Add(uint8(i%n), v)
		}
	}
	types := fuzzTypes()
	f.Fuzz(func(t *testing.T, which uint8, v []byte) {
		typ := types[int(which)%len(types)]
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		d := newDecoder(mem, "c", typ, infNull)
		defer d.b.Release()
		if err := d.decode(v); err != nil {
			return
		}
		arr := d.b.NewArray()
		defer arr.Release()
		if arr.Len() != 1 {
			t.Fatalf("%s: %d values after one decode, want 1", typ.name, arr.Len())
		}
		checkUTF8(t, arr)
		if typ.kind == kNumericString && !numericText.MatchString(arr.(*array.String).Value(0)) {
			t.Fatalf("numeric %x printed as %q, not a number", v, arr.(*array.String).Value(0))
		}
	})
}

var numericText = regexp.MustCompile(`^(-?[0-9]+(\.[0-9]+)?|NaN|-?Infinity)$`)

// checkUTF8 fails when a string value (at any depth) is not UTF-8, which Arrow's string type promises.
func checkUTF8(t *testing.T, arr arrow.Array) {
	switch a := arr.(type) {
	case *array.String:
		for i := range a.Len() {
			if !utf8.ValidString(a.Value(i)) {
				t.Fatalf("string value %q is not UTF-8", a.Value(i))
			}
		}
	case array.ExtensionArray:
		checkUTF8(t, a.Storage())
	case *array.List:
		checkUTF8(t, a.ListValues())
	case *array.Struct:
		for i := range a.NumField() {
			checkUTF8(t, a.Field(i))
		}
	}
}
