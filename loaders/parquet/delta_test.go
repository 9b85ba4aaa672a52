package parquet_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// TestDeltaEncoding: with the default delta_encoding, a file's sequential id and event-time columns are written
// DELTA_BINARY_PACKED and a random one is not; with delta_encoding: false none is. DuckDB, an independent reader,
// reports the encodings and reads back every value.
func TestDeltaEncoding(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "noise", Type: arrow.PrimitiveTypes.Int64},
		{Name: "status", Type: arrow.BinaryTypes.String},
	}, nil)
	const rows, batch = 20_000, 5_000
	r := rand.New(rand.NewPCG(3, 4))
	var sumNoise, sumAt, nAt int64
	var batches []arrow.RecordBatch
	for off := 0; off < rows; off += batch {
		ids, ats, noise, status := array.NewInt64Builder(mem), array.NewTimestampBuilder(mem, sc.Field(1).Type.(*arrow.TimestampType)),
			array.NewInt64Builder(mem), array.NewStringBuilder(mem)
		for i := off; i < off+batch; i++ {
			ids.Append(int64(i) + 1)
			if i%7 == 0 {
				ats.AppendNull()
			} else {
				at := 1_764_000_000_000_000 + int64(i)*1_000 + r.Int64N(3_000) // in order but for a few ms
				sumAt += at - 1_764_000_000_000_000
				nAt++
				ats.Append(arrow.Timestamp(at))
			}
			v := r.Int64N(1 << 40)
			sumNoise += v
			noise.Append(v)
			status.Append([]string{"new", "paid", "shipped"}[i%3])
		}
		cols := []arrow.Array{ids.NewArray(), ats.NewArray(), noise.NewArray(), status.NewArray()}
		batches = append(batches, array.NewRecordBatch(sc, cols, batch))
		for i, b := range []array.Builder{ids, ats, noise, status} {
			cols[i].Release()
			b.Release()
		}
	}
	defer testkit.ReleaseAll(batches)

	for _, tc := range []struct {
		name  string
		delta bool
		want  map[string]bool // column: DELTA_BINARY_PACKED
	}{
		{"default", true, map[string]bool{"id": true, "at": true, "noise": false, "status": false}},
		{"delta_encoding false", false, map[string]bool{"id": false, "at": false, "noise": false, "status": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := parquet.Config{Path: t.TempDir(), Compression: "zstd", Dictionary: true, DeltaEncoding: tc.delta}
			reg, _ := stage.Lookup(stage.KindLoader, "parquet")
			v, err := reg.BuildPresent(stage.BuildContext{Pipeline: "orders", Alloc: mem}, &cfg, stage.Given(&cfg, "delta_encoding"))
			if err != nil {
				t.Fatal(err)
			}
			l := v.(*parquet.Loader)
			t.Cleanup(func() { _ = l.Close() })
			load(t, l, sc, "delta000000000000000000000000000", batches...)
			files := cfg.Path + "/*.parquet"
			enc := testkit.DuckDBQuery(t, "SELECT path_in_schema AS col, string_agg(DISTINCT encodings, ',') AS enc FROM parquet_metadata('"+files+"') GROUP BY 1")
			if len(enc) != 4 {
				t.Fatalf("parquet_metadata: %v", enc)
			}
			for _, row := range enc {
				if got := strings.Contains(row["enc"], "DELTA_BINARY_PACKED"); got != tc.want[row["col"]] {
					t.Errorf("column %s: encodings %s, delta %v, want %v", row["col"], row["enc"], got, tc.want[row["col"]])
				}
			}
			got := testkit.DuckDBQuery(t, "SELECT count(*) AS n, sum(id) AS ids, count(\"at\") AS ats, sum(epoch_us(\"at\") - 1764000000000000) AS at_sum, sum(noise) AS noise, min(id) AS lo, max(id) AS hi FROM read_parquet('"+files+"')")
			if len(got) != 1 || got[0]["n"] != fmt.Sprint(rows) || got[0]["ids"] != fmt.Sprint(int64(rows)*(rows+1)/2) ||
				got[0]["noise"] != fmt.Sprint(sumNoise) || got[0]["ats"] != fmt.Sprint(nAt) || got[0]["at_sum"] != fmt.Sprint(sumAt) || got[0]["lo"] != "1" || got[0]["hi"] != fmt.Sprint(rows) {
				t.Errorf("DuckDB reads %v", got)
			}
		})
	}
}
