package iceberg

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// TestKeyEncoder: the typed key encoders write exactly what appendKey(valueAt) writes for every key type, so
// that a pipeline's key and the table's key of the same row are the same text, and decodeKey reads the values
// back.
func TestKeyEncoder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, tc := range []struct {
		dt     arrow.DataType
		values string
	}{
		{arrow.PrimitiveTypes.Int64, `-9223372036854775808, -1, 0, 7, 9223372036854775807`},
		{arrow.PrimitiveTypes.Int32, `-2147483648, 0, 7, 2147483647`},
		{arrow.PrimitiveTypes.Int16, `-32768, 7`},
		{arrow.PrimitiveTypes.Int8, `-128, 7`},
		{arrow.PrimitiveTypes.Uint32, `0, 4294967295`},
		{arrow.PrimitiveTypes.Uint16, `65535`},
		{arrow.PrimitiveTypes.Date32, `"2026-12-05", "1969-12-31"`},
		{&arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}, `"2026-12-05T10:00:00Z"`},
		{&arrow.TimestampType{Unit: arrow.Millisecond}, `"2026-12-05T10:00:00.123"`},
		{&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, `"2026-12-05T10:00:00.123456Z"`},
		{&arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, `"2026-12-05T10:00:00.123456789Z"`},
		{arrow.BinaryTypes.String, `"", "a", "a:b", "ünïcode"`},
		{arrow.BinaryTypes.LargeString, `"x", "10:"`},
		{arrow.BinaryTypes.Binary, `"AAE=", ""`},
		{&arrow.FixedSizeBinaryType{ByteWidth: 2}, `"AAE="`},
		{&arrow.Decimal128Type{Precision: 12, Scale: 2}, `"10.50", "-3.00"`},
		{arrow.FixedWidthTypes.Boolean, `true, false`},
	} {
		t.Run(tc.dt.String(), func(t *testing.T) {
			sc := arrow.NewSchema([]arrow.Field{{Name: "c", Type: tc.dt}}, nil)
			var rows string
			for i, v := range splitValues(tc.values) {
				if i > 0 {
					rows += ","
				}
				rows += `{"c": ` + v + `}`
			}
			b := testkit.Records(t, mem, sc, "["+rows+"]")
			defer b.Release()
			enc := keyEncoder(b.Column(0))
			for r := range int(b.NumRows()) {
				want := appendKey([]byte("prefix"), valueAt(b.Column(0), r))
				if got := enc([]byte("prefix"), r); string(got) != string(want) {
					t.Errorf("row %d: keyEncoder wrote %q, appendKey %q", r, got, want)
				}
				vals, ok := decodeKey(nil, string(want[len("prefix"):]))
				if !ok || len(vals) != 1 {
					t.Fatalf("row %d: decodeKey(%q) = %v, %v", r, want, vals, ok)
				}
				if v := valueAt(b.Column(0), r); (v.kind == kInt || v.kind == kString) && vals[0] != v {
					t.Errorf("row %d: decodeKey read %+v, want %+v", r, vals[0], v)
				}
			}
		})
	}
}

func splitValues(s string) []string {
	var out []string
	depth, start := false, 0
	for i, c := range s {
		switch {
		case c == '"':
			depth = !depth
		case c == ',' && !depth:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// TestMergePrunesOnEveryKeyColumn: with a key of two columns, the files a merge reads the keys of are those whose
// min/max statistics of every key column can hold a changed key, not only of the first one.
func TestMergePrunesOnEveryKeyColumn(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	sc := regionSchema()
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.Mode, c.Key, c.VersionBy = "merge", []string{"region", "order_id"}, "v"
	})
	// Two files, both of region eu: order ids 1–3 and 100–102.
	for _, p := range []struct{ name, rows string }{
		{"low", `[{"region": "eu", "order_id": 1, "v": 1}, {"region": "eu", "order_id": 3, "v": 1}]`},
		{"high", `[{"region": "eu", "order_id": 100, "v": 1}, {"region": "eu", "order_id": 102, "v": 1}]`},
	} {
		b := testkit.Records(t, mem, sc, p.rows)
		testkit.LoadPartition(ctx, t, l, sc, testkit.PartitionFor(p.name), b)
		b.Release()
	}
	for _, tc := range []struct {
		rows  string
		files int
	}{
		{`[{"region": "eu", "order_id": 2, "v": 2}]`, 1},
		{`[{"region": "eu", "order_id": 2, "v": 2}, {"region": "eu", "order_id": 101, "v": 2}]`, 2},
		{`[{"region": "us", "order_id": 50, "v": 2}]`, 0},
		// Past 200 keys iceberg-go's planning no longer compares an IN set with the statistics: jetflow does.
		{manyKeys("eu", 1000, 300), 0},
		{manyKeys("eu", 1000, 300, 2, 101), 2},
		{manyKeys("eu", 200, 300, 2), 1}, // 2 to 499: the range holds both files, the values one
	} {
		c := candidateFiles(t, l, mem, tc.rows)
		var names []string
		for _, f := range c.files {
			names = append(names, f.FilePath())
		}
		if len(c.files) != tc.files {
			t.Errorf("changes %s: read the keys of %d files %v, want %d", tc.rows, len(c.files), names, tc.files)
		}
	}
}

// manyKeys is the rows of n keys of region from order id from on, and of ids.
func manyKeys(region string, from, n int, ids ...int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		ids = append(ids, from+i)
	}
	for i, id := range ids {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"region": %q, "order_id": %d, "v": 2}`, region, id)
	}
	b.WriteString("]")
	return b.String()
}

// TestMergePrunesBuckets: with more changed keys than iceberg-go compares, a table bucketed by its key still has
// only the files of the changed keys' buckets read.
func TestMergePrunesBuckets(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	sc := regionSchema()
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.Mode, c.Key, c.VersionBy, c.PartitionBy = "merge", []string{"order_id"}, "v", []string{"bucket(4, order_id)"}
	})
	b := testkit.Records(t, mem, sc, manyKeys("eu", 0, 1000))
	testkit.LoadPartition(ctx, t, l, sc, testkit.PartitionFor("base"), b)
	b.Release()
	bucket := iceberg.BucketTransform{NumBuckets: 4}.Transformer(iceberg.Int64Type{})
	var same []int
	for id := range 1000 {
		if bucket(int64(id)) == bucket(int64(5)) {
			same = append(same, id)
		}
	}
	if len(same) <= inLimit {
		t.Fatalf("only %d keys in the bucket of 5: the test needs more than %d", len(same), inLimit)
	}
	c := candidateFiles(t, l, mem, manyKeys("eu", 0, 0, same...))
	if len(c.files) != 1 || len(c.stored.rows) != len(same) {
		t.Errorf("read %d files and found %d stored keys; want the one file of the bucket and its %d keys", len(c.files), len(c.stored.rows), len(same))
	}
}

func regionSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "region", Type: arrow.BinaryTypes.String},
		{Name: "order_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
}

// candidateFiles finds the files and stored rows a merge of rows (JSON, regionSchema) into l's table reads.
func candidateFiles(t *testing.T, l *Loader, mem memory.Allocator, rows string) *candidates {
	t.Helper()
	ctx := context.Background()
	b := testkit.Records(t, mem, regionSchema(), rows)
	defer b.Release()
	w := &mergeWriter{l: l, p: stage.Partition{ID: "x"}, schema: regionSchema(), batches: []arrow.RecordBatch{b}}
	chs, err := w.changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.storedRows(ctx, loadTable(t, l), chs)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
