package iceberg

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newLoader builds a loader on a SQLite catalog and local warehouse in dir; edit adjusts the config first.
func newLoader(t testing.TB, dir string, edit func(*Config)) *Loader {
	t.Helper()
	return newLoaderLog(t, dir, quietLogger(), edit)
}

// newLoaderLog is newLoader logging to log.
func newLoaderLog(t testing.TB, dir string, log *slog.Logger, edit func(*Config)) *Loader {
	t.Helper()
	return newLoaderWith(t, dir, log, memory.NewGoAllocator(), edit)
}

// newLoaderAlloc is newLoader allocating Arrow memory from mem.
func newLoaderAlloc(t testing.TB, dir string, mem memory.Allocator, edit func(*Config)) *Loader {
	t.Helper()
	return newLoaderWith(t, dir, quietLogger(), mem, edit)
}

func newLoaderWith(t testing.TB, dir string, log *slog.Logger, mem memory.Allocator, edit func(*Config)) *Loader {
	t.Helper()
	cfg := Config{
		Catalog: CatalogConfig{Warehouse: filepath.Join(dir, "warehouse")},
		Table:   "analytics.orders",
	}
	if edit != nil {
		edit(&cfg)
	}
	l, err := New(stage.BuildContext{Pipeline: "test", Alloc: mem, Logger: log}, &cfg)
	if err != nil {
		t.Fatalf("building the iceberg loader: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// loadTable reloads the loader's table from its catalog.
func loadTable(t testing.TB, l *Loader) *table.Table {
	t.Helper()
	ctx := context.Background()
	cat, err := l.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cat.LoadTable(ctx, l.Ident())
	if err != nil {
		t.Fatalf("load table: %v", err)
	}
	return tbl
}

// scan reads the table back with iceberg-go's own scanner into one record in mem (nil when the table has no
// snapshot); filter narrows it when not nil.
func scan(t testing.TB, l *Loader, mem memory.Allocator, filter iceberg.BooleanExpression) arrow.RecordBatch {
	t.Helper()
	tbl := loadTable(t, l)
	if tbl.CurrentSnapshot() == nil {
		return nil
	}
	opts := []table.ScanOption{}
	if filter != nil {
		opts = append(opts, table.WithRowFilter(filter))
	}
	sc, recs, err := tbl.Scan(opts...).ToArrowRecords(context.Background())
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	var batches []arrow.RecordBatch
	for b, err := range recs {
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		batches = append(batches, b)
	}
	defer testkit.ReleaseAll(batches)
	out, err := testkit.Concat(mem, sc, batches)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dataFiles lists the table's live data files as local paths.
func dataFiles(t testing.TB, l *Loader) []string {
	t.Helper()
	tbl := loadTable(t, l)
	snap := tbl.CurrentSnapshot()
	if snap == nil {
		return nil
	}
	fs, err := tbl.FS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	files, err := liveFiles(context.Background(), fs, snap, func(iceberg.DataFile) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimPrefix(f.FilePath(), "file://"))
	}
	return out
}

// duckList is a DuckDB list literal of paths for read_parquet.
func duckList(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = "'" + strings.ReplaceAll(p, "'", "''") + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// newOrdersMergeLoader is a loader merging mergeSchema's orders by order_id, newest updated_at, deleted_at marking
// deletes, into a table of two buckets; edit changes the rest of its config.
func newOrdersMergeLoader(t testing.TB, edit func(*Config)) *Loader {
	return newLoader(t, t.TempDir(), func(c *Config) {
		c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
		c.PartitionBy = []string{"bucket(2, order_id)"}
		if edit != nil {
			edit(c)
		}
	})
}

// compactionCount is how many snapshots of l's table a merge's compaction (CompactMerged) made.
func compactionCount(t testing.TB, l *Loader) (n int) {
	for _, s := range loadTable(t, l).Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties["jetflow.operation"] == "compact-merged" {
			n++
		}
	}
	return n
}
