//go:build chserver

package clickhouse

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state/sqlite"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/chtest"
)

// Every kind of Arrow array the consumer makes goes through the engine into Parquet and reads back the same:
// dictionaries that change from batch to batch (LowCardinality), shared ones (Enum), decimals, lists, structs,
// nullable values.
func TestToParquet(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.CreateDatabase(t)
	srv.Exec(t, db, `CREATE TABLE kinds (id Int64, lc LowCardinality(String), e Enum8('a' = 1, 'b' = 2), dec Decimal(18, 4),
		dec128 Decimal(30, 2), arr Array(Nullable(String)), tup Tuple(UInt8, String), ns Nullable(String), u UUID,
		fs FixedString(2), d Date, dt DateTime, b UInt8, alc Array(LowCardinality(String))) ENGINE = MergeTree ORDER BY id`,
		`INSERT INTO kinds SELECT toInt64(number), concat('v', toString(intDiv(number, 1000))), if(number % 2 = 0, 'a', 'b'),
		toDecimal64(number / 7, 4), toDecimal128(number * 1000, 2), [if(number % 3 = 0, NULL, toString(number)), 'x'],
		(toUInt8(number % 200), toString(number)), if(number % 4 = 0, NULL, 'n'), generateUUIDv4(), toFixedString('ab', 2),
		toDate('2026-01-01') + number % 30, toDateTime('2026-01-01 00:00:00', 'UTC') + number, toUInt8(number % 256),
		[concat('t', toString(intDiv(number, 1000))), 'x']
		FROM system.numbers LIMIT 5000`)
	out := t.TempDir()
	src := `name: kinds
consumer:
  type: clickhouse
  addr: ${CH_ADDR}
  database: ${CH_DB}
  query: SELECT * FROM kinds ORDER BY id
  block_rows: 700
loaders:
  - type: parquet
    path: ${OUT}/kinds/
`
	env := map[string]string{"CH_ADDR": srv.Addr(), "CH_DB": db, "OUT": out}
	p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}.Parse("kinds.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	built, err := p.Build(stage.BuildContext{Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng, err := engine.New(p.Job(built), store, engine.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	run, err := p.ParseRun("2026-11-22")
	if err != nil {
		t.Fatal(err)
	}
	if report, err := eng.Run(t.Context(), run); err != nil || !report.OK() {
		t.Fatalf("run: %v %+v", err, report)
	}
	got := testkit.ReadParquet(t, mem, filepath.Join(out, "kinds"))
	defer got.Release()

	c := built.Source.(*Consumer)
	batches := testkit.ReadPartition(t.Context(), t, c, stage.Partition{Key: "all"})
	want := testkit.ConcatRecords(mem, batches)
	testkit.ReleaseAll(batches)
	defer want.Release()
	if want.NumRows() != 5000 {
		t.Fatalf("read %d rows from the server, want 5000", want.NumRows())
	}
	// Parquet has no unit of seconds: DateTime (timestamp[s]) comes back in milliseconds, the same instants.
	wdt := want.Column(want.Schema().FieldIndices("dt")[0]).(*array.Timestamp)
	gdt := got.Column(got.Schema().FieldIndices("dt")[0]).(*array.Timestamp)
	for i := 0; i < wdt.Len(); i++ {
		if int64(wdt.Value(i))*1000 != int64(gdt.Value(i)) {
			t.Fatalf("dt row %d: %d s, %d ms in Parquet", i, wdt.Value(i), gdt.Value(i))
		}
	}
	w, g := without(want, "dt"), without(got, "dt")
	defer w.Release()
	defer g.Release()
	testkit.AssertRecordsEqual(t, w, g)

	// What another reader sees: the UUID column carries Parquet's UUID logical type; Enum8 is a string (its
	// dictionary is written as one), not a Parquet ENUM.
	files := testkit.ParquetFiles(t, filepath.Join(out, "kinds"))
	rows := testkit.DuckDBQuery(t, fmt.Sprintf(`SELECT typeof(u) AS tu, typeof(e) AS te FROM read_parquet('%s') LIMIT 1`, files[0]))
	if len(rows) != 1 || rows[0]["tu"] != "UUID" || rows[0]["te"] != "VARCHAR" {
		t.Errorf("DuckDB reads the UUID and Enum8 columns as %v, want UUID and VARCHAR", rows)
	}
	// The LowCardinality columns, whose dictionaries grow by a value every 1,000 rows (blocks of 700), stay
	// dictionary-encoded in every column chunk, beside nested columns (arr, tup) and within an array (alc).
	for _, f := range files {
		for _, path := range []string{"lc", "alc, list, element"} {
			chunks := testkit.DuckDBQuery(t, fmt.Sprintf(`SELECT row_group_id AS rg, encodings AS enc, dictionary_page_offset AS dpo
				FROM parquet_metadata('%s') WHERE path_in_schema = '%s'`, f, path))
			if len(chunks) == 0 {
				t.Errorf("%s: no column chunk of %s", f, path)
			}
			for _, c := range chunks {
				if !strings.Contains(c["enc"], "DICTIONARY") || c["dpo"] == "" {
					t.Errorf("%s: row group %s of %s: encodings %s, dictionary page offset %q: not dictionary-encoded", f, c["rg"], path, c["enc"], c["dpo"])
				}
			}
		}
	}
}

// without is rec without the column name.
func without(rec arrow.RecordBatch, name string) arrow.RecordBatch {
	var fields []arrow.Field
	var cols []arrow.Array
	for i, f := range rec.Schema().Fields() {
		if f.Name != name {
			fields = append(fields, f)
			cols = append(cols, rec.Column(i))
		}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows())
}
