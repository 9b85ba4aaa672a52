package generate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
)

func f(v float64) *float64 { return &v }

var day = stage.RunInstance{
	Start: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
	End:   time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
	Label: "2026-11-22",
}

// allTypes declares a column of every type the generator makes, with some settings, nulls in a few.
func allTypes() []Column {
	return []Column{
		{Name: "id", Type: "int64", Sequence: true},
		{Name: "i8", Type: "int8", NullRate: 0.2},
		{Name: "i16", Type: "int16", Min: f(-5), Max: f(5)},
		{Name: "i32", Type: "int32"},
		{Name: "u8", Type: "uint8", Min: f(10), Max: f(20)},
		{Name: "u16", Type: "uint16"},
		{Name: "u32", Type: "uint32", NullRate: 0.5},
		{Name: "u64", Type: "uint64"},
		{Name: "f16", Type: "float16", Min: f(-1), Max: f(1)},
		{Name: "f32", Type: "float32"},
		{Name: "f64", Type: "float64", Min: f(-1e9), Max: f(1e9), NullRate: 0.1},
		{Name: "b", Type: "bool", NullRate: 0.3},
		{Name: "s", Type: "string", Min: f(2), Max: f(5)},
		{Name: "ls", Type: "large_string", Distinct: 7},
		{Name: "bin", Type: "binary", Min: f(0), Max: f(3)},
		{Name: "lbin", Type: "large_binary"},
		{Name: "fsb", Type: "fixed_size_binary(5)"},
		{Name: "uuid", Type: "uuid"},
		{Name: "d18", Type: "decimal(18,4)"},
		{Name: "d38", Type: "decimal(38,10)", NullRate: 0.05},
		{Name: "d76", Type: "decimal(76,0)"},
		{Name: "dmin", Type: "decimal(9,2)", Min: f(-10.5), Max: f(99.99)},
		{Name: "d32", Type: "date32"},
		{Name: "d64", Type: "date64"},
		{Name: "t32", Type: "time32[ms]"},
		{Name: "t64", Type: "time64[ns]"},
		{Name: "ts", Type: "timestamp[us, UTC]"},
		{Name: "tsr", Type: "timestamp[s]", Min: f(0), Max: f(60)},
		{Name: "dur", Type: "duration[ms]"},
		{Name: "l", Type: "list<int32>", Min: f(1), Max: f(3)},
		{Name: "ll", Type: "large_list<string>", NullRate: 0.25},
		{Name: "fsl", Type: "fixed_size_list<float64, 3>"},
		{Name: "st", Type: "struct<a: int64, `b c`: string, d: list<bool>>"},
		{Name: "m", Type: "map<string, int16>"},
		{Name: "dict", Type: "dictionary<string, int8>", Distinct: 5},
		{Name: "nothing", Type: "null"},
		{Name: "json", Type: "json", Min: f(1), Max: f(4)},
	}
}

// buildGo builds cfg through the registry, as a pipeline file would be (defaults of the zero keys, checks),
// except that the keys listed in zeros keep their zero value.
func buildGo(bc stage.BuildContext, cfg *Config, zeros ...string) (stage.Source, error) {
	reg, _ := stage.Lookup(stage.KindConsumer, "generate")
	src, err := reg.BuildPresent(bc, cfg, stage.Given(cfg, zeros...))
	if err != nil {
		return nil, err
	}
	return src.(stage.Source), nil
}

// rollAsWritten keeps an unbounded generator's zero roll limits zero ("no limit") rather than their defaults.
var rollAsWritten = []string{"unbounded.roll.rows", "unbounded.roll.bytes", "unbounded.roll.interval"}

func newGen(t testing.TB, mem memory.Allocator, cfg Config) *Generator {
	t.Helper()
	src, err := buildGo(stage.BuildContext{Pipeline: "test", Alloc: mem}, &cfg)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	g, ok := src.(*Generator)
	if !ok {
		t.Fatalf("build returned %T, want *Generator", src)
	}
	return g
}

// readAll reads every partition of run and returns one array per column (the caller releases them) and the
// partitions.
func readAll(t *testing.T, mem memory.Allocator, g *Generator, run stage.RunInstance) ([]arrow.Array, []stage.Partition) {
	t.Helper()
	parts, err := g.Partitions(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	chunks := make([][]arrow.Array, len(g.schema.Fields()))
	for _, p := range parts {
		err := g.Read(context.Background(), p, func(rec arrow.RecordBatch) error {
			if !rec.Schema().Equal(g.schema) {
				t.Errorf("batch schema %s, want %s", rec.Schema(), g.schema)
			}
			if rec.NumRows() > int64(g.batchRows) {
				t.Errorf("batch of %d rows, batch_rows is %d", rec.NumRows(), g.batchRows)
			}
			for i, c := range rec.Columns() {
				c.Retain()
				chunks[i] = append(chunks[i], c)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Read(%s): %v", p.Key, err)
		}
	}
	out := make([]arrow.Array, len(chunks))
	for i, cs := range chunks {
		a, err := array.Concatenate(cs, mem)
		if err != nil {
			t.Fatalf("concatenate column %d: %v", i, err)
		}
		for _, c := range cs {
			c.Release()
		}
		out[i] = a
	}
	return out, parts
}

func release(arrs []arrow.Array) {
	for _, a := range arrs {
		a.Release()
	}
}

func TestDeterministicAcrossPartitioningAndBatching(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	const rows = 1000
	layouts := []struct {
		name      string
		part      PartitionConfig
		batchRows int
	}{
		{"one partition, one batch", PartitionConfig{}, rows},
		{"rows 137, batches of 50", PartitionConfig{Rows: 137}, 50},
		{"count 7, batches of 33", PartitionConfig{Count: 7}, 33},
		{"rows 1, batches of 1", PartitionConfig{Rows: 1}, 1},
	}
	var want []arrow.Array
	for _, l := range layouts {
		g := newGen(t, mem, Config{Seed: 42, Rows: rows, BatchRows: l.batchRows, Columns: allTypes(), Partition: l.part})
		got, _ := readAll(t, mem, g, day)
		if want == nil {
			want = got
			continue
		}
		for i := range got {
			if !array.Equal(got[i], want[i]) {
				t.Errorf("%s: column %s differs from the single-partition read", l.name, g.schema.Field(i).Name)
			}
		}
		release(got)
	}
	defer release(want)

	// A different seed or run instance gives different data; the same gives the same again.
	for _, tt := range []struct {
		name string
		seed int64
		run  stage.RunInstance
		same bool
	}{
		{"same seed and run", 42, day, true},
		{"other seed", 43, day, false},
		{"other run label", 42, stage.RunInstance{Start: day.Start, End: day.End, Label: "2026-11-22b"}, false},
	} {
		g := newGen(t, mem, Config{Seed: tt.seed, Rows: rows, BatchRows: 256, Columns: allTypes()})
		got, _ := readAll(t, mem, g, tt.run)
		col := 3 // i32: random over its whole range
		if eq := array.Equal(got[col], want[col]); eq != tt.same {
			t.Errorf("%s: equal = %v, want %v", tt.name, eq, tt.same)
		}
		release(got)
	}
}

func TestEveryType(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	const rows = 4000
	cols := allTypes()
	g := newGen(t, mem, Config{Seed: 7, Rows: rows, BatchRows: 1000, Columns: cols, Partition: PartitionConfig{Count: 3}})
	arrs, _ := readAll(t, mem, g, day)
	defer release(arrs)

	dayLo := day.Start.Unix() / 86400
	checks := map[string]func(a arrow.Array, i int) error{
		"id": func(a arrow.Array, i int) error {
			return want(a.(*array.Int64).Value(i) == int64(i), "id[%d] = %d", i, a.(*array.Int64).Value(i))
		},
		"i16": func(a arrow.Array, i int) error {
			v := a.(*array.Int16).Value(i)
			return want(v >= -5 && v <= 5, "%d outside [-5,5]", v)
		},
		"u8": func(a arrow.Array, i int) error {
			v := a.(*array.Uint8).Value(i)
			return want(v >= 10 && v <= 20, "%d outside [10,20]", v)
		},
		"f16": func(a arrow.Array, i int) error {
			v := a.(*array.Float16).Value(i).Float32()
			return want(v >= -1 && v <= 1, "%g outside [-1,1]", v)
		},
		"f32": func(a arrow.Array, i int) error {
			v := a.(*array.Float32).Value(i)
			return want(v >= 0 && v <= 1000, "%g outside the default [0,1000)", v)
		},
		"f64": func(a arrow.Array, i int) error {
			v := a.(*array.Float64).Value(i)
			return want(v >= -1e9 && v < 1e9, "%g outside [-1e9,1e9)", v)
		},
		"s": func(a arrow.Array, i int) error {
			v := a.(*array.String).Value(i)
			return want(len(v) >= 2 && len(v) <= 5 && utf8.ValidString(v) && isASCII(v), "%q: want 2..5 ASCII chars", v)
		},
		"ls": func(a arrow.Array, i int) error {
			v := a.(*array.LargeString).Value(i)
			return want(len(v) >= 8 && len(v) <= 24, "%q: want the default 8..24 chars", v)
		},
		"bin": func(a arrow.Array, i int) error {
			v := a.(*array.Binary).Value(i)
			return want(len(v) <= 3, "%x longer than 3", v)
		},
		"uuid": func(a arrow.Array, i int) error {
			v := a.(array.ExtensionArray).Storage().(*array.FixedSizeBinary).Value(i)
			return want(len(v) == 16 && v[6]>>4 == 4 && v[8]>>6 == 2, "%x is not a version 4 UUID", v)
		},
		"json": func(a arrow.Array, i int) error {
			v := a.(array.ExtensionArray).Storage().(*array.String).Value(i)
			var obj map[string]string
			err := json.Unmarshal([]byte(v), &obj)
			return want(err == nil && len(obj["v"]) >= 1 && len(obj["v"]) <= 4, "%q: want a JSON object {\"v\": 1..4 chars}", v)
		},
		"d18": func(a arrow.Array, i int) error {
			v := a.(*array.Decimal128).Value(i)
			return want(v.FitsInPrecision(18), "%s does not fit precision 18", v.ToString(4))
		},
		"d38": func(a arrow.Array, i int) error {
			v := a.(*array.Decimal128).Value(i)
			return want(v.FitsInPrecision(38), "%s does not fit precision 38", v.ToString(10))
		},
		"d76": func(a arrow.Array, i int) error {
			v := a.(*array.Decimal256).Value(i)
			return want(v.FitsInPrecision(76), "%s does not fit precision 76", v.ToString(0))
		},
		"dmin": func(a arrow.Array, i int) error {
			v := a.(*array.Decimal128).Value(i)
			return want(v.Cmp(decimal128.FromI64(-1050)) >= 0 && v.Cmp(decimal128.FromI64(9999)) <= 0, "%s outside [-10.5,99.99]", v.ToString(2))
		},
		"d32": func(a arrow.Array, i int) error {
			v := int64(a.(*array.Date32).Value(i))
			return want(v == dayLo, "date32 %d, want the run's only day %d", v, dayLo)
		},
		"d64": func(a arrow.Array, i int) error {
			v := int64(a.(*array.Date64).Value(i))
			return want(v == dayLo*86400000, "date64 %d, want the run's day %d", v, dayLo*86400000)
		},
		"t32": func(a arrow.Array, i int) error {
			v := a.(*array.Time32).Value(i)
			return want(v >= 0 && v < 86400000, "time32[ms] %d outside a day", v)
		},
		"t64": func(a arrow.Array, i int) error {
			v := a.(*array.Time64).Value(i)
			return want(v >= 0 && v < 86400e9, "time64[ns] %d outside a day", v)
		},
		"ts": func(a arrow.Array, i int) error {
			v := a.(*array.Timestamp).Value(i)
			return want(int64(v) >= day.Start.UnixMicro() && int64(v) < day.End.UnixMicro(), "timestamp %d outside the run instance", v)
		},
		"tsr": func(a arrow.Array, i int) error {
			v := a.(*array.Timestamp).Value(i)
			return want(v >= 0 && v <= 60, "timestamp[s] %d outside [0,60]", v)
		},
		"dur": func(a arrow.Array, i int) error {
			v := a.(*array.Duration).Value(i)
			return want(v >= 0 && v < 86400000, "duration %d outside a day", v)
		},
		"l": func(a arrow.Array, i int) error {
			s, e := a.(*array.List).ValueOffsets(i)
			return want(e-s >= 1 && e-s <= 3, "list of %d items, want 1..3", e-s)
		},
		"ll": func(a arrow.Array, i int) error {
			s, e := a.(*array.LargeList).ValueOffsets(i)
			return want(e-s >= 0 && e-s <= 4, "list of %d items, want the default 0..4", e-s)
		},
		"m": func(a arrow.Array, i int) error {
			s, e := a.(*array.Map).ValueOffsets(i)
			return want(e-s >= 0 && e-s <= 4, "map of %d entries, want 0..4", e-s)
		},
	}
	for ci, c := range cols {
		t.Run(c.Name, func(t *testing.T) {
			a := arrs[ci]
			if err := array.Validate(a); err != nil {
				t.Fatalf("invalid array: %v", err)
			}
			wantType, _ := arrowtype.Parse(c.Type)
			if !arrow.TypeEqual(a.DataType(), wantType) {
				t.Fatalf("type %s, want %s", a.DataType(), wantType)
			}
			field := g.schema.Field(ci)
			if c.Type != "null" && field.Nullable != (c.NullRate > 0) {
				t.Errorf("nullable = %v with null_rate %g", field.Nullable, c.NullRate)
			}
			if c.Type == "null" {
				return
			}
			rate := float64(a.NullN()) / rows
			if math.Abs(rate-c.NullRate) > 0.03 {
				t.Errorf("null share %.3f, want %.2f ± 0.03", rate, c.NullRate)
			}
			check := checks[c.Name]
			for i := 0; i < a.Len() && check != nil; i++ {
				if a.IsNull(i) {
					continue
				}
				if err := check(a, i); err != nil {
					t.Fatalf("row %d: %v", i, err)
				}
			}
			// Random columns are not constant (a broken hash would give one value).
			if c.Distinct == 0 && a.Len() > 1 && !strings.HasPrefix(c.Type, "date") && c.Type != "bool" {
				if distinctValues(a) < 3 {
					t.Errorf("only %d distinct values in %d rows", distinctValues(a), rows)
				}
			}
		})
	}
	t.Run("distinct", func(t *testing.T) {
		if n := distinctValues(arrs[13]); n != 7 {
			t.Errorf("large_string with distinct 7 has %d distinct values", n)
		}
		dict := arrs[34].(*array.Dictionary)
		if dict.Dictionary().Len() != 5 {
			t.Errorf("dictionary size %d, want distinct 5", dict.Dictionary().Len())
		}
	})
	t.Run("decimals use the precision", func(t *testing.T) {
		// Wide decimals are not stuck in the low words: some values exceed the int64 range.
		big := 0
		d76 := arrs[20].(*array.Decimal256)
		for i := range d76.Len() {
			if d76.Value(i).Abs().Cmp(decimal256.FromI64(math.MaxInt64)) > 0 {
				big++
			}
		}
		if big < rows/2 {
			t.Errorf("only %d of %d decimal(76,0) values exceed int64", big, rows)
		}
	})
}

func want(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func distinctValues(a arrow.Array) int {
	seen := map[string]bool{}
	for i := range a.Len() {
		if a.IsValid(i) {
			seen[a.ValueStr(i)] = true
		}
	}
	return len(seen)
}

func TestPartitions(t *testing.T) {
	tests := []struct {
		name string
		rows int64
		part PartitionConfig
		keys []string
	}{
		{"default one", 100000, PartitionConfig{}, []string{"rows[0,100000)"}},
		{"by rows", 10, PartitionConfig{Rows: 4}, []string{"rows[0,4)", "rows[4,8)", "rows[8,10)"}},
		{"by rows exact", 8, PartitionConfig{Rows: 4}, []string{"rows[0,4)", "rows[4,8)"}},
		{"by count", 10, PartitionConfig{Count: 3}, []string{"rows[0,4)", "rows[4,7)", "rows[7,10)"}},
		{"count equals rows", 3, PartitionConfig{Count: 3}, []string{"rows[0,1)", "rows[1,2)", "rows[2,3)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			g := newGen(t, mem, Config{Rows: tt.rows, BatchRows: 3, Columns: []Column{{Name: "id", Type: "int64", Sequence: true}}, Partition: tt.part})
			parts, err := g.Partitions(context.Background(), day)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			next := int64(0)
			for i, p := range parts {
				keys = append(keys, p.Key)
				lo, hi := p.Lo.(int64), p.Hi.(int64)
				if lo != next || hi <= lo || p.Index != i || p.Run != day || p.Lane != "" {
					t.Errorf("partition %d: %+v, want to start at %d", i, p, next)
				}
				if p.Key != PartitionKey(lo, hi) {
					t.Errorf("key %q does not match bounds %d..%d", p.Key, lo, hi)
				}
				// Read delivers exactly the rows inside the bounds.
				r := lo
				err := g.Read(context.Background(), p, func(rec arrow.RecordBatch) error {
					ids := rec.Column(0).(*array.Int64)
					for j := range ids.Len() {
						if ids.Value(j) != r {
							return fmt.Errorf("row %d has id %d", r, ids.Value(j))
						}
						r++
					}
					return nil
				})
				if err != nil || r != hi {
					t.Errorf("Read(%s): read up to %d, err %v", p.Key, r, err)
				}
				next = hi
			}
			if next != tt.rows {
				t.Errorf("partitions end at %d, want %d", next, tt.rows)
			}
			if strings.Join(keys, " ") != strings.Join(tt.keys, " ") {
				t.Errorf("keys %v, want %v", keys, tt.keys)
			}
		})
	}
}

func TestReadRejectsForeignBounds(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	g := newGen(t, mem, Config{Rows: 10, BatchRows: 3, Columns: []Column{{Name: "x", Type: "int8"}}})
	for _, p := range []stage.Partition{
		{Key: "rows[0,11)", Lo: int64(0), Hi: int64(11)},
		{Key: "x", Lo: "a", Hi: "b"},
		{Key: "rows[5,2)", Lo: int64(5), Hi: int64(2)},
	} {
		err := g.Read(context.Background(), p, func(arrow.RecordBatch) error { return nil })
		if err == nil || !strings.Contains(err.Error(), p.Key) {
			t.Errorf("Read(%s) = %v, want an error naming the partition", p.Key, err)
		}
	}
}

func TestReadCancellationAndOutError(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	g := newGen(t, mem, Config{Rows: 1000, BatchRows: 100, Columns: allTypes()})
	parts, _ := g.Partitions(context.Background(), day)

	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	err := g.Read(ctx, parts[0], func(arrow.RecordBatch) error {
		batches++
		if batches == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel = %v, want context.Canceled", err)
	}
	if batches != 3 {
		t.Errorf("%d batches emitted, want 3 (cancellation is checked between batches)", batches)
	}

	boom := errors.New("loader full")
	batches = 0
	err = g.Read(context.Background(), parts[0], func(arrow.RecordBatch) error { batches++; return boom })
	if err != boom || batches != 1 {
		t.Errorf("Read = %v after %d batches, want the out error as is after 1", err, batches)
	}
}

func TestConfigErrors(t *testing.T) {
	base := func() Config {
		return Config{Seed: 1, Rows: 100, BatchRows: 10, Columns: []Column{{Name: "a", Type: "int64"}, {Name: "b", Type: "string"}, {Name: "c", Type: "float64"}}}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		path   string
		msg    string
	}{
		{"bad type", func(c *Config) { c.Columns[2].Type = "decimal(18)" }, "columns[2].type", "decimal(18): want decimal(precision, scale)"},
		{"unknown type", func(c *Config) { c.Columns[0].Type = "int" }, "columns[0].type", "did you mean int32/int64?"},
		{"null_rate high", func(c *Config) { c.Columns[1].NullRate = 1.5 }, "columns[1].null_rate", "between 0 and 1"},
		{"null_rate negative", func(c *Config) { c.Columns[1].NullRate = -0.1 }, "columns[1].null_rate", "between 0 and 1"},
		{"min > max", func(c *Config) { c.Columns[2].Min, c.Columns[2].Max = f(5), f(1) }, "columns[2].min", "greater than max"},
		{"min outside type", func(c *Config) { c.Columns[0].Type, c.Columns[0].Min = "uint8", f(-1) }, "columns[0].min", "outside the range of uint8"},
		{"length not whole", func(c *Config) { c.Columns[1].Max = f(2.5) }, "columns[1].max", "whole number"},
		{"range on bool", func(c *Config) { c.Columns[1].Type, c.Columns[1].Min = "bool", f(1) }, "columns[1].min", "do not apply to bool"},
		{"rows zero", func(c *Config) { c.Rows = 0 }, "rows", "at least 1"},
		{"both partition keys", func(c *Config) { c.Partition = PartitionConfig{Rows: 10, Count: 2} }, "partition", "not both"},
		{"count above rows", func(c *Config) { c.Partition.Count = 101 }, "partition.count", "at most 100"},
		{"batch_rows negative", func(c *Config) { c.BatchRows = -1 }, "batch_rows", "want at least 1, got -1"},
		{"duplicate name", func(c *Config) { c.Columns[2].Name = "a" }, "columns[2].name", `"a" is already declared at columns[0]`},
		{"missing name", func(c *Config) { c.Columns[1].Name = "" }, "columns[1].name", "missing required key"},
		{"sequence on float", func(c *Config) { c.Columns[2].Sequence = true }, "columns[2].sequence", "integer columns, not float64"},
		{"sequence overflow", func(c *Config) { c.Columns[0].Type, c.Columns[0].Sequence, c.Rows = "int8", true, 200 }, "columns[0].sequence", "overflows int8"},
		{"sequence with distinct", func(c *Config) { c.Columns[0].Sequence, c.Columns[0].Distinct = true, 3 }, "columns[0].sequence", "cannot also have distinct"},
		{"dictionary too big", func(c *Config) { c.Columns[1].Type, c.Columns[1].Distinct = "dictionary<string, int8>", 300 }, "columns[1].distinct", "do not fit index type int8"},
		{"no columns", func(c *Config) { c.Columns = nil }, "columns", "missing required key"},
		{"rows with unbounded", func(c *Config) { c.Unbounded = &StreamConfig{Roll: RollConfig{Rows: 10}} }, "rows", "bounded mode"},
		{"no roll limit", func(c *Config) { c.Rows, c.Unbounded = 0, &StreamConfig{} }, "unbounded.roll", "at least one of"},
		{"negative rate", func(c *Config) { c.Rows, c.Unbounded = 0, &StreamConfig{Rate: -1, Roll: RollConfig{Rows: 1}} }, "unbounded.rate", "want at least 0, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.mutate(&cfg)
			_, err := buildGo(stage.BuildContext{Alloc: memory.NewGoAllocator()}, &cfg, rollAsWritten...)
			if err == nil {
				t.Fatalf("build succeeded, want %s: %s", tt.path, tt.msg)
			}
			fields, other := stage.FieldErrors(err)
			if len(other) > 0 {
				t.Errorf("errors without a field: %v", other)
			}
			for _, fe := range fields {
				if fe.Path == tt.path && strings.Contains(fe.Err.Error(), tt.msg) {
					return
				}
			}
			t.Errorf("build error %q, want one at %s containing %q", err, tt.path, tt.msg)
		})
	}
}

func TestRegistered(t *testing.T) {
	reg, ok := stage.Lookup(stage.KindConsumer, "generate")
	if !ok {
		t.Fatal("generate is not registered")
	}
	cfg := reg.NewConfig().(*Config)
	*cfg = Config{Rows: 5, BatchRows: 2, Columns: []Column{{Name: "x", Type: "timestamp[ms, Europe/Paris]", NullRate: 0.5}}}
	src, err := reg.Build(stage.BuildContext{Alloc: memory.NewGoAllocator()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ds, ok := src.(stage.DeclaredSchema)
	if !ok {
		t.Fatalf("%T does not declare its schema", src)
	}
	s, known, err := ds.DeclaredSchema()
	if err != nil || !known || s.NumFields() != 1 || !s.Field(0).Nullable || arrowtype.Format(s.Field(0).Type) != "timestamp[ms, Europe/Paris]" {
		t.Errorf("DeclaredSchema = %v, %v, %v", s, known, err)
	}
	if _, ok := src.(stage.StreamConsumer); ok {
		t.Error("a bounded generator must not offer Stream")
	}
}
