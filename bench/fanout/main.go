// Command fanout measures the memory of a wide fan-out write: one jetflow partition of generated orders into
// Iceberg partitioned by identity(tenant_id), month(created_at) (37 tenants × 7 months = 259 Iceberg partitions,
// so 259 data files open at once), against the same rows into unpartitioned Parquet, each case a child process
// (`jetflow run`) with its own peak RSS; then both again at -scale times the rows, where memory must not follow
// the data. It reports the files written and the sizes of their row groups, read from the footers.
//
//	go run ./bench/fanout                       # 2M rows, then 20M
//	go run ./bench/fanout -rows 500000 -scale 4 # a quicker look
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/jetflow-dev/jetflow/bench/benchkit"
)

// 2026-01-01 to the end of July: month(created_at) has 7 values.
const (
	from    = 1767225600
	to      = from + 212*86400 - 1
	tenants = 37
)

const pipeline = `name: fanout
consumer:
  type: generate
  rows: %d
  batch_rows: 65536
  columns:
    - { name: order_id, type: int64, sequence: true }
    - { name: tenant_id, type: int32, min: 1, max: %d }
    - { name: created_at, type: "timestamp[us, UTC]", min: %d, max: %d }
    - { name: status, type: string, distinct: 5 }
    - { name: qty, type: int32, min: 1, max: 100 }
    - { name: total, type: "decimal(18,4)" }
    - { name: note, type: string }
loaders:
  - %s
`

var loaders = []struct{ name, yaml string }{
	{"Parquet, unpartitioned", "{type: parquet, path: out, compression: zstd}"},
	{"Iceberg, identity(tenant_id) + month(created_at)", "{type: iceberg, catalog: {warehouse: wh}, table: bench.orders, partition_by: [identity(tenant_id), month(created_at)]}"},
}

func main() {
	rows := flag.Int64("rows", 2_000_000, "rows of the first round")
	scale := flag.Int64("scale", 10, "the second round has this many times the rows (0 or 1: no second round)")
	flag.Parse()
	if err := run(*rows, *scale); err != nil {
		fmt.Fprintln(os.Stderr, "bench/fanout:", err)
		os.Exit(1)
	}
}

func run(rows, scale int64) error {
	work, bin, cleanup, err := benchkit.Workspace("fanout")
	if err != nil {
		return err
	}
	defer cleanup()
	rounds := []int64{rows}
	if scale > 1 {
		rounds = append(rounds, rows*scale)
	}
	var cases []benchkit.Case
	var shapes []string
	for _, n := range rounds {
		for i, l := range loaders {
			dir := filepath.Join(work, fmt.Sprintf("%d-%d", n, i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			yaml := fmt.Sprintf(pipeline, n, tenants, from, to, l.yaml)
			if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(yaml), 0o644); err != nil {
				return err
			}
			cmd := exec.Command(bin, "run", "p.yaml", "--run", "2026-11-22", "--workers", "1", "--progress", "none", "--log-level", "warn")
			cmd.Dir, cmd.Stderr = dir, os.Stderr
			name := fmt.Sprintf("%d rows → %s", n, l.name)
			fmt.Fprintf(os.Stderr, "bench/fanout: %s ...\n", name)
			c, err := benchkit.Child(name, n, cmd)
			if err != nil {
				return err
			}
			s, err := footers(dir)
			if err != nil {
				return err
			}
			c.Bytes = s.bytes
			cases = append(cases, c)
			shapes = append(shapes, fmt.Sprintf("%s: %s", name, s))
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
	}
	fmt.Printf("\none jetflow partition, one worker, generated orders; Iceberg: %d tenants × 7 months = %d partitions (MB/s: Parquet bytes written):\n", tenants, tenants*7)
	if err := benchkit.Table(os.Stdout, cases, 0); err != nil {
		return err
	}
	for _, s := range shapes {
		fmt.Println(s)
	}
	mb := func(c benchkit.Case) float64 { return float64(c.RSSKB) / 1024 }
	fmt.Printf("%d-way fan-out peak RSS at %d rows: %.0f MB (target ≤ 250 MB); unpartitioned Parquet %.0f MB\n",
		tenants*7, rows, mb(cases[1]), mb(cases[0]))
	if len(rounds) > 1 {
		fmt.Printf("at %d rows: fan-out peak RSS / unpartitioned Parquet: %.2fx (target ≤ 1.3x); "+
			"peak RSS %d rows / %d rows: Parquet %.2fx, Iceberg fan-out %.2fx\n",
			rounds[1], mb(cases[3])/mb(cases[2]), rounds[1], rows, mb(cases[2])/mb(cases[0]), mb(cases[3])/mb(cases[1]))
	}
	return nil
}

// shape is what the footers of a case's data files say.
type shape struct {
	files, rowGroups int
	bytes            int64
	groupBytes       []int64 // compressed bytes of each row group
}

func (s shape) String() string {
	if s.rowGroups == 0 {
		return fmt.Sprintf("%d files, no row groups", s.files)
	}
	slices.Sort(s.groupBytes)
	q := func(p float64) float64 { return float64(s.groupBytes[int(p*float64(len(s.groupBytes)-1))]) / 1e6 }
	return fmt.Sprintf("%d files, %d row groups; row group MB min %.2f, median %.2f, max %.2f", s.files, s.rowGroups, q(0), q(0.5), q(1))
}

// footers reads the footer of every .parquet file under dir.
func footers(dir string) (shape, error) {
	var s shape
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		r, err := file.OpenParquetFile(p, false)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		defer r.Close()
		md := r.MetaData()
		s.files++
		for i := range md.NumRowGroups() {
			rg := md.RowGroup(i)
			var n int64
			for c := range rg.NumColumns() {
				cc, err := rg.ColumnChunk(c)
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				n += cc.TotalCompressedSize()
			}
			s.rowGroups++
			s.bytes += n
			s.groupBytes = append(s.groupBytes, n)
		}
		return nil
	})
	return s, err
}
