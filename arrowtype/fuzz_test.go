package arrowtype

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// FuzzParse checks that no input makes Parse panic, that every error is a *SyntaxError inside the input, and
// that what parses formats to text that parses back to the same type. The seeds run with the normal tests.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"int64", "decimal(18,4)", "decimal(50,10)", "timestamp[us, UTC]", "timestamp[ms, Europe/Paris]", "uuid", "json",
		"list<struct<id: int64 not null, name: string>>", "large_list<string>", "fixed_size_list<float32, 3>",
		"fixed_size_list<int8>[0]", "fixed_size_list<int8, 0>", "map<string, list<int64> not null>", "struct<`a``b`: int8>",
		"dictionary<string, uint8, ordered>", "fixed_size_binary(16)", "time64[ns]", "duration[ms]", "struct<>", "list<",
		"decimal(99999999999999999999,1)", "fixed_size_binary(-1)", "month_day_nano_interval", "dense_union<a: int8>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		dt, err := Parse(in)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error %T is not a *SyntaxError: %v", in, err, err)
			}
			if se.Offset < 0 || se.Offset > len(in) {
				t.Fatalf("Parse(%q): offset %d outside the input", in, se.Offset)
			}
			return
		}
		text := Format(dt)
		back, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q) = %s, formatted %q, which does not parse: %v", in, dt, text, err)
		}
		if !arrow.TypeEqual(dt, back, arrow.CheckMetadata()) {
			t.Fatalf("Parse(%q) = %s, formatted %q, parsed back as %s", in, dt, text, back)
		}
	})
}
