package parquet_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// The options that reproduce a legacy table's Parquet schema (what Spark needs to merge old and new files),
// checked in the files' own Parquet schema.
func TestLegacyParquetOptions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	in := testkit.Records(t, mem, sc, `[{"ts": "2026-11-22T13:45:01.123456Z", "m": [{"key": "a", "value": 1}]}, {"ts": null, "m": null}]`)
	defer in.Release()

	tests := []struct {
		name     string
		cfg      parquet.Config
		tsPhys   pq.Type
		tsLogic  string
		mapLogic string
		stored   bool
		duckUS   string // what DuckDB, an independent reader, makes of the timestamp
	}{
		{"defaults", parquet.Config{}, pq.Types.Int64, "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds", "Map", true, "1795355101123456"},
		{"millis", parquet.Config{TimestampUnit: "ms"}, pq.Types.Int64, "Timestamp(isAdjustedToUTC=true, timeUnit=milliseconds", "Map", true, "1795355101123000"},
		{"spark legacy", parquet.Config{Int96Timestamps: true, LegacyMaps: true, OmitArrowSchema: true}, pq.Types.Int96, "None", "None", false, "1795355101123456"},
	}
	bad := parquet.Config{Path: t.TempDir(), Compression: "zstd", Int96Timestamps: true, TimestampUnit: "ms"}
	if _, err := parquet.New(stage.BuildContext{Pipeline: "p", Alloc: mem}, &bad); err == nil || !strings.Contains(err.Error(), "timestamp_unit: ms cannot go with int96_timestamps") {
		t.Errorf("int96 with ms: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Path = t.TempDir()
			l := newLoader(t, mem, tt.cfg)
			load(t, l, sc, "legacy0000000000000000000000000a", in)
			s, _ := l.Destination(context.Background(), testRun)
			files := dataFiles(t, s)
			r := fileMeta(t, s, files[0])
			ps := r.MetaData().Schema
			ts := ps.Column(0)
			if ts.PhysicalType() != tt.tsPhys || !strings.HasPrefix(ts.LogicalType().String(), tt.tsLogic) {
				t.Errorf("ts: physical %v logical %v, want %v %s...", ts.PhysicalType(), ts.LogicalType(), tt.tsPhys, tt.tsLogic)
			}
			mapNode := ps.Root().Field(1).(*schema.GroupNode)
			if got := mapNode.LogicalType().String(); got != tt.mapLogic {
				t.Errorf("map logical type %q, want %q", got, tt.mapLogic)
			}
			if got := r.MetaData().KeyValueMetadata().FindValue("ARROW:schema") != nil; got != tt.stored {
				t.Errorf("ARROW:schema stored = %v, want %v", got, tt.stored)
			}
			rows := testkit.DuckDBQuery(t, "SELECT epoch_us(ts) AS us FROM read_parquet('"+tt.cfg.Path+"/*.parquet') WHERE ts IS NOT NULL")
			if len(rows) != 1 || rows[0]["us"] != tt.duckUS {
				t.Errorf("DuckDB reads ts as %v, want %s", rows, tt.duckUS)
			}
		})
	}
}
