package jsonarrow

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
)

// TestColumnAppend appends one token to a column of each type and checks the value built, or the error.
func TestColumnAppend(t *testing.T) {
	for _, tt := range []struct {
		typ, tok string
		cl       Class
		want     string // the array's text, when no error
		wantErr  string
	}{
		{"int64", "42", NumberValue, "[42]", ""},
		{"int64", "3.0", NumberValue, "[3]", ""},
		{"int64", "1.5", NumberValue, "", "field c: 1.5 is not an integer"},
		{"int64", "9223372036854775808", NumberValue, "", "field c: 9223372036854775808 overflows int64"},
		{"int32", "-7", NumberValue, "[-7]", ""},
		{"int32", "2147483648", NumberValue, "", "field c: 2147483648 overflows int32"},
		{"float64", "2.5e3", NumberValue, "[2500]", ""},
		{"float64", "1e400", NumberValue, "", "field c: 1e400 overflows float64"},
		{"float32", "1e39", NumberValue, "", "field c: 1e39 overflows float32"},
		{"bool", "true", BoolValue, "[true]", ""},
		{"bool", "false", BoolValue, "[false]", ""},
		{"string", "x y", StringValue, `["x y"]`, ""},
		{"string", "12", NumberValue, `["12"]`, ""},
		{"large_string", `{"a":1}`, NestedValue, `["{\"a\":1}"]`, ""},
		{"binary", "hi", StringValue, `["hi"]`, ""},
		{"date32", "2026-01-02", StringValue, "[2026-01-02]", ""},
		{"date32", "2026-13-02", StringValue, "", `field c: "2026-13-02" is not a date`},
		{"timestamp[ms, UTC]", "2026-01-01T10:00:00.5Z", StringValue, "[1767261600500]", ""},
		{"timestamp[ms, UTC]", "1767261600500", NumberValue, "[1767261600500]", ""},
		{"timestamp[ms, UTC]", "1.5", NumberValue, "", "field c: 1.5 is not a whole epoch number"},
		{"timestamp[ms, UTC]", "yesterday", StringValue, "", `field c: "yesterday" is not an RFC 3339 time`},
		{"decimal(6,2)", "12.5", NumberValue, "[12.5]", ""},
		{"decimal(6,2)", "-0.01", StringValue, "[-0.01]", ""},
		{"decimal(6,2)", "1.5e2", NumberValue, "[150]", ""},
		{"decimal(6,2)", "123456.7", NumberValue, "", `field c: "123456.7" overflows decimal(6,2)`},
		{"decimal(30,2)", "12345678901234567890.5", StringValue, "[12345678901234567890.5]", ""},
	} {
		t.Run(tt.typ+" "+tt.tok, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dt, err := arrowtype.Parse(tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckType(dt); err != nil {
				t.Fatal(err)
			}
			b := array.NewBuilder(mem, dt)
			defer b.Release()
			c := NewColumn("c", dt, b)
			if !c.Accepts(tt.cl) {
				t.Fatalf("%s does not accept class %d", tt.typ, tt.cl)
			}
			err = c.Append(tt.cl, []byte(tt.tok))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if b.Len() != 0 {
					t.Fatalf("a failed append left %d values", b.Len())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := b.NewArray()
			defer a.Release()
			if got := a.String(); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestColumnAccepts checks the table's classes: which JSON values each type reads, and that the types it does
// not hold are refused by CheckType with the list of those it does.
func TestColumnAccepts(t *testing.T) {
	for _, tt := range []struct {
		typ  string
		want []Class
	}{
		{"int64", []Class{NumberValue}},
		{"float32", []Class{NumberValue}},
		{"bool", []Class{BoolValue}},
		{"string", []Class{Invalid, StringValue, NumberValue, BoolValue, NestedValue}},
		{"binary", []Class{StringValue}},
		{"date32", []Class{StringValue}},
		{"timestamp[us]", []Class{StringValue, NumberValue}},
		{"decimal(9,2)", []Class{StringValue, NumberValue}},
	} {
		dt, err := arrowtype.Parse(tt.typ)
		if err != nil {
			t.Fatal(err)
		}
		c := NewColumn("c", dt, array.NewBuilder(memory.DefaultAllocator, dt))
		for cl := Invalid; cl <= NestedValue; cl++ {
			want := false
			for _, w := range tt.want {
				want = want || w == cl
			}
			if got := c.Accepts(cl) && cl != NullValue; got != want {
				t.Errorf("%s accepts class %d: %v, want %v", tt.typ, cl, got, want)
			}
		}
		c.B.Release()
	}
	for _, typ := range []string{"uint8", "list<uint16>", "struct<a: int64, b: float16>"} {
		dt, err := arrowtype.Parse(typ)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckType(dt); err == nil || !strings.Contains(err.Error(), "is not read from JSON") {
			t.Errorf("CheckType(%s) = %v, want it refused", typ, err)
		}
	}
}
