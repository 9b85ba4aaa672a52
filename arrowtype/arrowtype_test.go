package arrowtype

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

func TestParseForms(t *testing.T) {
	mustDec := func(id arrow.Type, p, s int32) arrow.DataType {
		dt, err := arrow.NewDecimalType(id, p, s)
		if err != nil {
			t.Fatal(err)
		}
		return dt
	}
	tests := []struct {
		in        string
		want      arrow.DataType
		canonical string // "" when the input is already canonical
	}{
		{"bool", arrow.FixedWidthTypes.Boolean, ""},
		{"boolean", arrow.FixedWidthTypes.Boolean, "bool"},
		{"int8", arrow.PrimitiveTypes.Int8, ""},
		{"int16", arrow.PrimitiveTypes.Int16, ""},
		{"int32", arrow.PrimitiveTypes.Int32, ""},
		{"INT64", arrow.PrimitiveTypes.Int64, "int64"},
		{"uint8", arrow.PrimitiveTypes.Uint8, ""},
		{"uint16", arrow.PrimitiveTypes.Uint16, ""},
		{"uint32", arrow.PrimitiveTypes.Uint32, ""},
		{"uint64", arrow.PrimitiveTypes.Uint64, ""},
		{"float16", arrow.FixedWidthTypes.Float16, ""},
		{"float32", arrow.PrimitiveTypes.Float32, ""},
		{"float64", arrow.PrimitiveTypes.Float64, ""},
		{"string", arrow.BinaryTypes.String, ""},
		{"utf8", arrow.BinaryTypes.String, "string"},
		{"large_string", arrow.BinaryTypes.LargeString, ""},
		{"binary", arrow.BinaryTypes.Binary, ""},
		{"large_binary", arrow.BinaryTypes.LargeBinary, ""},
		{"null", arrow.Null, ""},
		{"fixed_size_binary(16)", &arrow.FixedSizeBinaryType{ByteWidth: 16}, ""},
		{" fixed_size_binary ( 3 ) ", &arrow.FixedSizeBinaryType{ByteWidth: 3}, "fixed_size_binary(3)"},
		{"decimal(18,4)", mustDec(arrow.DECIMAL128, 18, 4), ""},
		{"decimal( 38 , 0 )", mustDec(arrow.DECIMAL128, 38, 0), "decimal(38,0)"},
		{"decimal(39,2)", mustDec(arrow.DECIMAL256, 39, 2), ""},
		{"decimal128(10,2)", mustDec(arrow.DECIMAL128, 10, 2), "decimal(10,2)"},
		{"decimal256(10,2)", mustDec(arrow.DECIMAL256, 10, 2), ""},
		{"decimal256(76,10)", mustDec(arrow.DECIMAL256, 76, 10), "decimal(76,10)"},
		{"date32", arrow.FixedWidthTypes.Date32, ""},
		{"date64", arrow.FixedWidthTypes.Date64, ""},
		{"time32[s]", &arrow.Time32Type{Unit: arrow.Second}, ""},
		{"time32[ms]", &arrow.Time32Type{Unit: arrow.Millisecond}, ""},
		{"time64[us]", &arrow.Time64Type{Unit: arrow.Microsecond}, ""},
		{"time64[ns]", &arrow.Time64Type{Unit: arrow.Nanosecond}, ""},
		{"timestamp[s]", &arrow.TimestampType{Unit: arrow.Second}, ""},
		{"timestamp[ms]", &arrow.TimestampType{Unit: arrow.Millisecond}, ""},
		{"timestamp[us]", &arrow.TimestampType{Unit: arrow.Microsecond}, ""},
		{"timestamp[ns]", &arrow.TimestampType{Unit: arrow.Nanosecond}, ""},
		{"timestamp[us, UTC]", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, ""},
		{"timestamp[ US ,America/New_York ]", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "America/New_York"}, "timestamp[us, America/New_York]"},
		{"timestamp[ms, +05:30]", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "+05:30"}, ""},
		{`timestamp[ns, "Europe/Paris"]`, &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "Europe/Paris"}, "timestamp[ns, Europe/Paris]"},
		{"duration[s]", &arrow.DurationType{Unit: arrow.Second}, ""},
		{"duration[ns]", &arrow.DurationType{Unit: arrow.Nanosecond}, ""},
		{"list<int32>", arrow.ListOf(arrow.PrimitiveTypes.Int32), ""},
		{"list<int32 not null>", arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int32), ""},
		{"large_list<string>", arrow.LargeListOf(arrow.BinaryTypes.String), ""},
		{"fixed_size_list<float32, 3>", arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32), ""},
		{"fixed_size_list< float32 NOT NULL ,3 >", arrow.FixedSizeListOfNonNullable(3, arrow.PrimitiveTypes.Float32), "fixed_size_list<float32 not null, 3>"},
		{"struct<>", arrow.StructOf(), ""},
		{"struct<a: int64, b: string>", arrow.StructOf(
			arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true}), ""},
		{"struct<id:int64 not null,`odd name`:list<bool>, \"x\"\"y\": date32>", arrow.StructOf(
			arrow.Field{Name: "id", Type: arrow.PrimitiveTypes.Int64},
			arrow.Field{Name: "odd name", Type: arrow.ListOf(arrow.FixedWidthTypes.Boolean), Nullable: true},
			arrow.Field{Name: `x"y`, Type: arrow.FixedWidthTypes.Date32, Nullable: true}),
			"struct<id: int64 not null, `odd name`: list<bool>, `x\"y`: date32>"},
		{"struct<`a``b`: int8>", arrow.StructOf(arrow.Field{Name: "a`b", Type: arrow.PrimitiveTypes.Int8, Nullable: true}), ""},
		{"map<string, int64>", arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), ""},
		{"map<int32, list<string> not null>", arrow.MapOfFields(
			arrow.Field{Name: "key", Type: arrow.PrimitiveTypes.Int32},
			arrow.Field{Name: "value", Type: arrow.ListOf(arrow.BinaryTypes.String)}), ""},
		{"dictionary<string, int32>", &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, ""},
		{"dictionary<string, uint8, ordered>", &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Uint8, ValueType: arrow.BinaryTypes.String, Ordered: true}, ""},
		{"uuid", extensions.NewUUIDType(), ""},
		{"json", JSON(), ""},
		{"list<json>", arrow.ListOf(JSON()), ""},
		{"list<struct<k: map<string, decimal(9,2)>, t: timestamp[us, UTC]>>", arrow.ListOf(arrow.StructOf(
			arrow.Field{Name: "k", Type: arrow.MapOf(arrow.BinaryTypes.String, mustDec(arrow.DECIMAL128, 9, 2)), Nullable: true},
			arrow.Field{Name: "t", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true})), ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !arrow.TypeEqual(got, tt.want) || got.ID() != tt.want.ID() {
				t.Fatalf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
			}
			canon := tt.canonical
			if canon == "" {
				canon = tt.in
			}
			if f := Format(got); f != canon {
				t.Fatalf("Format(Parse(%q)) = %q, want %q", tt.in, f, canon)
			}
			// The canonical text reads back to the same type and prints the same.
			again, err := Parse(canon)
			if err != nil {
				t.Fatalf("Parse(canonical %q): %v", canon, err)
			}
			if !arrow.TypeEqual(again, got) || Format(again) != canon {
				t.Fatalf("round trip of %q gave %s", canon, again)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		msg    string
	}{
		{"", 0, "empty type"},
		{"int", 0, `unknown type "int": did you mean int32/int64?`},
		{"double", 0, `did you mean float64?`},
		{"in64", 0, `unknown type "in64": did you mean int64?`},
		{"list<strng>", 5, `unknown type "strng": did you mean string?`},
		{"zzzzzzzz", 0, `unknown type "zzzzzzzz": see the type reference`},
		{"decimal(18)", 0, "decimal(18): want decimal(precision, scale)"},
		{"decimal", 7, "decimal: want decimal(precision, scale)"},
		{"decimal(x,2)", 8, "want the precision as a number"},
		{"decimal(0,0)", 0, "the precision must be between 1 and 38"},
		{"decimal(77,0)", 0, "the precision must be between 1 and 76"},
		{"decimal128(39,0)", 0, "the precision must be between 1 and 38"},
		{"decimal(5,6)", 0, "the scale must be between 0 and the precision"},
		{"decimal(18,4", 12, `want ")" closing decimal(precision, scale), found the end`},
		{"fixed_size_binary(0)", 0, "the byte width must be at least 1"},
		{"fixed_size_list<int8, 0>", 22, "the list size must be at least 1"},
		{"fixed_size_binary", 17, "want fixed_size_binary(byte_width)"},
		{"timestamp", 0, "timestamp: want timestamp[s|ms|us|ns] or timestamp[unit, zone]"},
		{"timestamp[xs]", 10, `unknown time unit "xs"`},
		{"timestamp[us, Mars/Olympus]", 14, `unknown time zone "Mars/Olympus"`},
		{"timestamp[us, ]", 14, "want a time zone"},
		{"time32[us]", 7, "time32 holds s or ms; use time64[us]"},
		{"time64[s]", 7, "time64 holds us or ns; use time32[s]"},
		{"list<int32", 10, `want ">" closing list<T>`},
		{"list", 4, "want list<T>, found the end"},
		{"fixed_size_list<int32>", 21, `want "," then the list size`},
		{"struct<a int32>", 9, `want ":" then the type of field "a"`},
		{"struct<a: int32, a: int64>", 17, `field "a" appears twice`},
		{"struct<a: int32 b: int64>", 16, `want "," or ">" after field "a"`},
		{"struct<`a: int32>", 7, "unclosed `"},
		{"struct<1a: int32>", 7, "want a field name"},
		{"map<string>", 10, `want "," then the value type`},
		{"map<list<int32>, string>", 4, "a map key cannot be list<int32>"},
		{"dictionary<string, float32>", 19, "the index type must be an integer type"},
		{"dictionary<string, int32, sorted>", 26, `want "ordered"`},
		{"int64 extra", 6, `unexpected "extra" after the type int64`},
		{"list<int32 not nul>", 15, `want "null" after "not"`},
		{"`a`", 0, "found a quoted name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want error containing %q", tt.in, tt.msg)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T, want *SyntaxError", tt.in, err)
			}
			if !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%q) = %q, want it to contain %q", tt.in, se.Msg, tt.msg)
			}
			if se.Offset != tt.offset {
				t.Errorf("Parse(%q) offset = %d, want %d (%v)", tt.in, se.Offset, tt.offset, err)
			}
			if !strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
				t.Errorf("error %q does not quote the input", err)
			}
		})
	}
}

func TestFormatUnsupportedFallsBack(t *testing.T) {
	dt := arrow.FixedWidthTypes.MonthInterval
	if got := Format(dt); got != dt.String() {
		t.Fatalf("Format(%s) = %q", dt, got)
	}
	if _, err := Parse(Format(dt)); err == nil {
		t.Fatalf("Parse(%q) succeeded for a type without a text form", Format(dt))
	}
}
