package expr

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
)

// wideBatch is n rows of the columns a typical pipeline derives from, with nulls.
func wideBatch(mem memory.Allocator, n int) arrow.RecordBatch {
	tsType := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	ib, fb, sb := array.NewInt64Builder(mem), array.NewFloat64Builder(mem), array.NewStringBuilder(mem)
	tb := array.NewTimestampBuilder(mem, tsType)
	defer ib.Release()
	defer fb.Release()
	defer sb.Release()
	defer tb.Release()
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC).UnixMicro()
	for i := range n {
		ib.Append(int64(i))
		if i%10 == 0 {
			fb.AppendNull()
			sb.AppendNull()
		} else {
			fb.Append(float64(i) * 1.5)
			sb.Append("User" + strconv.Itoa(i%100) + "@Example.com ")
		}
		tb.Append(arrow.Timestamp(base + int64(i)*1_000_000))
	}
	cols := []arrow.Array{ib.NewArray(), fb.NewArray(), sb.NewArray(), tb.NewArray()}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: cols[0].DataType()}, {Name: "total", Type: cols[1].DataType(), Nullable: true},
		{Name: "email", Type: cols[2].DataType(), Nullable: true}, {Name: "at", Type: tsType},
	}, nil)
	rec := array.NewRecordBatch(schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

var benchColumns = []Column{
	{Name: "year", Expr: "year(at)"},
	{Name: "day", Expr: "date_trunc('day', at)"},
	{Name: "email", Expr: "lower(trim(email))"},
	{Name: "email_hash", Expr: "sha256(email)"},
	{Name: "key", Expr: "xxhash64(id)"},
	{Name: "tier", Expr: "case when total >= 1000 then 'large' when total >= 100 then 'medium' else 'small' end"},
	{Name: "total", Expr: "coalesce(total, 0) * 1.2"},
	{Name: "tag", Expr: "concat('u-', id % 7)"},
}

// TestNoAllocationPerRow checks that evaluation allocates per batch, not per row: a batch 50 times longer costs
// about as many allocations.
func TestNoAllocationPerRow(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	allocs := func(n int) float64 {
		rec := wideBatch(mem, n)
		defer rec.Release()
		d, err := NewDerive(mem, benchColumns)
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewFilter(mem, "total > 10 and regexp_match(email, '^user1') and id not in (3, 5)")
		if err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(5, func() {
			for _, tr := range []stage.Transformer{d, f} {
				out, err := tr.Transform(context.Background(), rec)
				if err != nil {
					t.Fatal(err)
				}
				if out != nil {
					out.Release()
				}
			}
		})
	}
	small, large := allocs(1_000), allocs(50_000)
	if large > small*1.5+50 {
		t.Errorf("allocations grow with rows: %.0f for 1,000 rows, %.0f for 50,000", small, large)
	}
	t.Logf("allocations per batch: %.0f (1,000 rows), %.0f (50,000 rows)", small, large)
}

func BenchmarkDerive(b *testing.B) {
	mem := memory.NewGoAllocator()
	rec := wideBatch(mem, 65536)
	defer rec.Release()
	d, err := NewDerive(mem, benchColumns)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(0)
	b.ResetTimer()
	for b.Loop() {
		out, err := d.Transform(context.Background(), rec)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	b.ReportMetric(float64(b.N)*65536/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkFilter(b *testing.B) {
	mem := memory.NewGoAllocator()
	rec := wideBatch(mem, 65536)
	defer rec.Release()
	f, err := NewFilter(mem, "total > 1000 and email is not null")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := f.Transform(context.Background(), rec)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	b.ReportMetric(float64(b.N)*65536/b.Elapsed().Seconds(), "rows/s")
}

// TestREADMEExample builds and validates the pipeline snippet at the top of README.md, so the documentation
// cannot drift from what the loader accepts.
func TestREADMEExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no yaml block")
	}
	doc := "name: readme\nconsumer:\n  type: generate\n  rows: 10\n  columns:\n" +
		"    - {name: id, type: int64}\n    - {name: tenant_id, type: int32}\n    - {name: status, type: string}\n" +
		"    - {name: total, type: \"decimal(18,4)\"}\n    - {name: email, type: string}\n" +
		"    - {name: updated_at, type: \"timestamp[us, UTC]\"}\n" +
		string(m[1]) + "loaders: [{type: parquet, path: " + strconv.Quote(t.TempDir()) + "}]\n"
	p, err := pipelines.Options{}.Parse("readme.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Build(stage.BuildContext{})
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := p.Validate(context.Background(), b, false)
	if err != nil {
		t.Fatal(err)
	}
	last := schemas[len(schemas)-1]
	var names []string
	for _, f := range last.Fields() {
		names = append(names, f.Name)
	}
	want := "id tenant_id status total email updated_at year tier email_hash loaded_in key"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("columns %s, want %s", got, want)
	}
}

// TestREADMEFunctions keeps the function table complete: every function the checker knows is documented.
func TestREADMEFunctions(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range functionList {
		if !strings.Contains(string(readme), "`"+f.sig+"`") {
			t.Errorf("README.md does not document %s", f.sig)
		}
	}
}
