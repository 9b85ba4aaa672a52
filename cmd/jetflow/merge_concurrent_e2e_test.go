package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// mergeWriterPipeline is writer w of the concurrent merge test: 40 keys in 4 partitions, where key k gets the
// version (k+w)%4, so exactly one writer has each key's newest version; that writer deletes every sixth key, and
// the others' older rows of it must stay out whenever they commit.
func mergeWriterPipeline(w int, strategy string) string {
	return fmt.Sprintf(`name: writer%d
consumer:
  type: generate
  rows: 40
  batch_rows: 7
  partition: { count: 4 }
  columns:
    - { name: id, type: int64, sequence: true }
transformers:
  - type: derive
    columns:
      order_id: id + 1
      ver: (id + 1 + %d) %% 4
      status: "'w%d'"
      deleted: (id + 1) %% 6 = 0 and (id + 1 + %d) %% 4 = 3
loaders:
  - type: iceberg
    catalog: { warehouse: wh }
    table: lake.orders
    partition_by: [bucket(2, order_id)]
    mode: merge
    key: [order_id]
    version_by: ver
    delete_when: deleted
    merge: { strategy: %s }
    commit: { retries: 300, max_wait: 300ms }
`, w, w, w, w, strategy)
}

// TestMergeFourProcesses: 4 jetflow processes (2 workers each) merge overlapping keys into one Iceberg table of
// a SQLite catalog at once, retrying on conflict. The table they leave equals the one the same 4 pipelines
// leave run one after another, and the rule's outcome (each key at its newest version, deleted keys gone),
// read by iceberg-go's scanner and by DuckDB applying the position deletes itself.
func TestMergeFourProcesses(t *testing.T) {
	const writers = 4
	var want []string
	for k := 1; k <= 40; k++ {
		for w := range writers {
			if (k+w)%4 == 3 && k%6 != 0 {
				want = append(want, fmt.Sprintf("%d|w%d|3", k, w))
			}
		}
	}
	for _, strategy := range []string{"merge_on_read", "copy_on_write"} {
		t.Run(strategy, func(t *testing.T) {
			concurrent, serial := t.TempDir(), t.TempDir()
			for w := range writers {
				for _, dir := range []string{concurrent, serial} {
					writeFile(t, dir, fmt.Sprintf("w%d.yaml", w), mergeWriterPipeline(w, strategy))
				}
			}
			outs := make([]bytes.Buffer, writers)
			cmds := make([]*exec.Cmd, writers)
			for w := range writers {
				cmds[w] = command(concurrent, nil, "run", fmt.Sprintf("w%d.yaml", w), "--run", "2026-12-01", "--workers", "2")
				cmds[w].Stdout, cmds[w].Stderr = &outs[w], &outs[w]
				if err := cmds[w].Start(); err != nil {
					t.Fatal(err)
				}
			}
			for w, cmd := range cmds {
				err := cmd.Wait()
				finish(t, cmd, err, outs[w].String(), "").must(t, exitOK)
			}
			for w := range writers {
				jetflow(t, serial, nil, "run", fmt.Sprintf("w%d.yaml", w), "--run", "2026-12-01").must(t, exitOK)
			}
			got := mergedRows(t, concurrent)
			if d := diffLines(want, got); d != "" {
				t.Fatalf("after 4 concurrent processes the table differs from the rule's outcome:\n%s", d)
			}
			if d := diffLines(mergedRows(t, serial), got); d != "" {
				t.Fatalf("after 4 concurrent processes the table differs from the serial run's:\n%s", d)
			}
		})
	}
}

// mergedRows reads lake.orders under dir/wh as sorted "order_id|status|ver" rows with iceberg-go's scanner and
// with DuckDB over the snapshot's data files minus its position deletes; both must agree.
func mergedRows(t *testing.T, dir string) []string {
	t.Helper()
	ctx := context.Background()
	l, err := iceberg.New(stage.BuildContext{Pipeline: "read", Alloc: memory.NewGoAllocator()}, &iceberg.Config{Catalog: iceberg.CatalogConfig{Warehouse: filepath.Join(dir, "wh")}, Table: "lake.orders"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tbl, err := l.LoadTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scanned := testkit.IcebergRows(t, tbl, func(col func(string) arrow.Array, i int) string {
		return fmt.Sprintf("%d|%s|%d", col("order_id").(*array.Int64).Value(i), col("status").(*array.String).Value(i), col("ver").(*array.Int64).Value(i))
	})
	duck := testkit.IcebergDuckDBRows(t, tbl, `order_id || '|' || status || '|' || ver`)
	if d := diffLines(scanned, duck); d != "" {
		t.Fatalf("%s: DuckDB applying the delete files reads the table unlike iceberg-go's scanner:\n%s", strings.TrimPrefix(dir, "/"), d)
	}
	return scanned
}
