package expr

import (
	"context"
	"errors"
	"github.com/apache/arrow-go/v18/arrow"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestErrors(t *testing.T) {
	tests := []struct {
		expr string
		want string // the whole message
	}{
		// syntax
		{"", "unexpected end of expression: a value is missing at 1:1"},
		{"i +", "unexpected end of expression: a value is missing at 1:4"},
		{"i + * 2", `unexpected "*" where a value was expected at 1:5`},
		{"(i + 1", `expected ")" to close the parenthesis, got end of expression at 1:7`},
		{"i 1", `unexpected "1" after a complete expression at 1:3`},
		{"s = 'abc", "unterminated string at 1:5"},
		{`"odd name`, "unterminated quoted column name at 1:1"},
		{"i # 2", `unexpected character '#' at 1:3`},
		{"i is nul", `expected NULL after IS, got "nul" at 1:6`},
		{"i in 1", `expected "(" after IN, got "1" at 1:6`},
		{"i in (1, 2", `expected ")" to close the IN list, got end of expression at 1:11`},
		{"case i > 1 then 2 end", `CASE needs at least one WHEN ... THEN ..., got "i" at 1:6`},
		{"case when i > 1 2 end", `expected THEN after the WHEN condition, got "2" at 1:17`},
		{"case when i > 1 then 2", "expected END to close CASE, got end of expression at 1:23"},
		{"lower(s", `expected ")" to close the argument list of lower, got end of expression at 1:8`},
		{"99999999999999999999", "integer 99999999999999999999 is out of range for int64 at 1:1"},
		{"timestamp 'yesterday'", `invalid timestamp "'yesterday'": want 2006-01-02, 2006-01-02 15:04:05 or RFC 3339 with a zone at 1:11`},
		{"i = 1 and\n  and", `unexpected keyword "and" where a value was expected at 2:3`},
		{"s = 'é'\n\tor lowr(s)", `unknown function "lowr" at 2:5; did you mean lower?`},
		// names
		{"lowr(s)", `unknown function "lowr" at 1:1; did you mean lower?`},
		{"i + amout", `unknown column "amout" at 1:5`},
		{"i + staus", `unknown column "staus" at 1:5; did you mean status?`},
		{`"odd nme" > 1`, `unknown column "odd nme" at 1:1; did you mean odd name?`},
		// types
		{"i + s", "operator + wants numbers, got int64 + string at 1:3"},
		{"-s", "cannot negate string: want a number at 1:1"},
		{"not i", "NOT wants a boolean, got int64 at 1:5"},
		{"b and i", "AND wants a boolean, got int64 at 1:7"},
		{"s = 1", "operator =: cannot combine string and int64 at 1:3"},
		{"ts > 'soon'", `cannot read "soon" as a timestamp[us, UTC]: want 2006-01-02, 2006-01-02 15:04:05 or RFC 3339 with a zone at 1:6`},
		{"i in (1, j)", "IN lists take literal values only at 1:10"},
		{"case when i then 1 end", "WHEN wants a boolean, got int64 at 1:11"},
		{"case when b then 1 else 'x' end", "CASE: cannot combine int64 and string at 1:1"},
		{"coalesce(i, s)", "coalesce: cannot combine int64 and string at 1:1"},
		{"lower(i)", "lower: argument 1 wants a string, got int64 at 1:7"},
		{"lower(s, s)", "lower(s) takes 1 argument, got 2 at 1:1"},
		{"concat()", "concat(a, b, ...) takes at least 1 arguments, got 0 at 1:1"},
		{"substr(s, i)", "substr: argument 2 must be an integer written in the expression at 1:11"},
		{"substr(s, 1, -1)", "substr: length -1 is negative at 1:14"},
		{"replace(s, s, 'x')", "replace: argument 2 must be a string written in the expression at 1:12"},
		{"replace(s, '', 'x')", "replace: the text to replace is empty at 1:12"},
		{"regexp_match(s, '(')", "regexp_match: invalid pattern: error parsing regexp: missing closing ): `(` at 1:17"},
		{"year(s)", "year wants a date or timestamp, got string at 1:6"},
		{"hour(d)", "hour wants a timestamp, got date32 at 1:6"},
		{"date_trunc('dya', ts)", `date_trunc: unknown unit "dya" (want one of year, quarter, month, week, day, hour, minute, second) at 1:12; did you mean day?`},
		{"date_trunc('hour', d)", "date_trunc: a date has no hour at 1:12"},
		{"date_trunc(s, ts)", "date_trunc: argument 1 must be a unit such as 'day' written in the expression at 1:12"},
		{"concat(s, bin)", "concat: argument 2 is binary; want text, a number, a boolean or a date at 1:11"},
		{"now(1)", "now() takes 0 arguments, got 1 at 1:1"},
		{"ns > timestamp '3000-01-01'", "timestamp 3000-01-01T00:00:00Z does not fit timestamp[ns]: "},
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := inputBatch(t, mem)
	defer in.Release()
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := Compile(tt.expr, in.Schema())
			if err == nil {
				t.Fatalf("Compile(%q) succeeded, want error %q", tt.expr, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			if err.Error() != tt.want && !(strings.HasSuffix(tt.want, ": ") && strings.HasPrefix(err.Error(), tt.want)) {
				t.Errorf("Compile(%q)\n got %s\nwant %s", tt.expr, err, tt.want)
			}
		})
	}
}

// FuzzParse checks that no input makes the parser panic or loop, and that every error carries a position inside
// the input. The seed corpus runs as part of the normal tests.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "i + 1", "lower(s) = 'x'", `"odd name" is not null`, "case when a then 1 else 2 end", "i in (1, 2, 3)",
		"not not not b", "((((1))))", "-9223372036854775808", "timestamp '2026-11-22'", "'unterminated", "1e5 + .5",
		"a || b || c", "x not in ('a''b')", "date_trunc('day', ts) >= now()", "\n\t coalesce(a,\n b)",
		"case when b then s else upper(status) end", "coalesce(j, i) % 3 in (0, 1)", "sha256(concat(s, i, d))",
		"substr(s, -3, 2) || replace(ls, 'a', '')", "regexp_match(status, 'p.*') and not b", "xxhash64(bin) > 0",
	} {
		f.Add(s)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	in := inputBatch(f, mem)
	f.Cleanup(func() { in.Release() })
	f.Fuzz(func(t *testing.T, src string) {
		n, err := Parse(src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q): error %T is not an *Error", src, err)
			}
			if e.Offset < 0 || e.Offset > len(src) || e.Line < 1 || e.Col < 1 {
				t.Fatalf("Parse(%q): position %d (%d:%d) outside the input", src, e.Offset, e.Line, e.Col)
			}
			return
		}
		if n == nil {
			t.Fatalf("Parse(%q) returned neither a node nor an error", src)
		}
		// What parses must also check and evaluate without a panic or a leak.
		c, err := Compile(src, in.Schema())
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q): error %T is not an *Error", src, err)
			}
			return
		}
		before := mem.CurrentAlloc()
		out, err := c.Eval(context.Background(), mem, in, testConstants)
		if err == nil {
			if out.Len() != int(in.NumRows()) || !arrow.TypeEqual(out.DataType(), c.Type()) {
				t.Fatalf("Eval(%q): %d values of %s, want %d of %s", src, out.Len(), out.DataType(), in.NumRows(), c.Type())
			}
			out.Release()
		}
		if after := mem.CurrentAlloc(); after != before {
			t.Fatalf("Eval(%q) leaked %d bytes", src, after-before)
		}
	})
}

// TestEvalErrors covers what only data can reveal; the message names the expression and the operation.
func TestEvalErrors(t *testing.T) {
	tests := []struct {
		expr, want string
	}{
		{"i * 9223372036854775807", `evaluating "i * 9223372036854775807": operator *: int64 overflow (compute in float64 by writing 1.0 * x) at 1:3`},
		{"-(i - 9223372036854775807 - 10)", `evaluating "-(i - 9223372036854775807 - 10)": operator -: int64 overflow (compute in float64 by writing 1.0 * x) at 1:5`},
		{"u64 + 1", `evaluating "u64 + 1": converting uint64 to int64: `},
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := inputBatch(t, mem)
	defer in.Release()
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			c, err := Compile(tt.expr, in.Schema())
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Eval(context.Background(), mem, in, Constants{})
			if err == nil {
				got.Release()
				t.Fatalf("Eval(%q) succeeded, want error %q", tt.expr, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Eval(%q)\n got %v\nwant %s...", tt.expr, err, tt.want)
			}
		})
	}
}
