// Command httpapi measures the httpapi consumer against encoding/json on the same pages, in the same run:
//
//	go run ./bench/httpapi                    # 1M records of ~300 bytes in pages of 1,000
//	go run ./bench/httpapi -records 200000    # a quicker look
//
// An httptest server in this process serves the pages; every case runs as a child process (this command
// re-executed with -case), so each has its own peak RSS and CPU time:
//
//   - baseline: net/http + encoding/json into []map[string]any, page after page;
//   - the httpapi consumer into Arrow batches (discarded), at a tenth of the records and at all of them: flat
//     memory means the same peak RSS whatever the page count;
//   - `jetflow run` httpapi → Parquet (zstd), the real binary.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jetflow-dev/jetflow/bench/benchkit"
)

const pageSize = 1000

// pipeline reads every page of the bench API; url carries the page count.
const pipeline = `name: httpbench
consumer:
  type: httpapi
  url: %s
  records: data
  batch_rows: 65536
  concurrency: 1
  pagination: {type: page, page_param: page, limit_param: limit, limit: 1000}
  schema:
    - {name: id, type: int64}
    - {name: account_id, type: int64}
    - {name: email, type: string}
    - {name: name, type: string}
    - {name: amount, type: float64}
    - {name: active, type: bool}
    - {name: created_at, type: "timestamp[us, UTC]"}
    - {name: status, type: string}
    - {name: tags, type: "list<string>"}
    - {name: address, type: "struct<city: string, zip: string>"}
    - {name: note, type: string}
loaders:
  - {type: parquet, path: out, compression: zstd}
`

func main() {
	records := flag.Int64("records", 1_000_000, "records served (pages of 1,000)")
	child := flag.String("case", "", "internal: run one case against -url and exit")
	url := flag.String("url", "", "internal: the API's URL")
	flag.Parse()
	var err error
	if *child != "" {
		err = runCase(*child, *url)
	} else {
		err = run(*records)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/httpapi:", err)
		os.Exit(1)
	}
}

// api serves pages of about 300-byte records by page number; /N/ in the path is the number of pages.
func api() (*httptest.Server, int) {
	const distinct = 8 // bodies served in turn, so the server costs little
	bodies := make([][]byte, distinct)
	for k := range bodies {
		var sb strings.Builder
		sb.WriteString(`{"data": [`)
		for i := range pageSize {
			if i > 0 {
				sb.WriteByte(',')
			}
			id := k*pageSize + i
			fmt.Fprintf(&sb, `{"id": %d, "account_id": %d, "email": "user%d@example.com", "name": "User Number %d", `+
				`"amount": %d.%02d, "active": %t, "created_at": "2026-11-22T10:%02d:%02dZ", "status": "shipped", `+
				`"tags": ["alpha", "beta"], "address": {"city": "Lisbon", "zip": "1000-%03d"}, "note": "deliver between nine and five"}`,
				id, id%977, id, id, id%10000, id%100, id%2 == 0, (id/60)%60, id%60, id%1000)
		}
		sb.WriteString(`], "meta": {"page_size": 1000}}`)
		bodies[k] = []byte(sb.String())
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages, _ := strconv.Atoi(strings.Trim(r.URL.Path, "/"))
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if p < 1 || p > pages {
			w.Write([]byte(`{"data": []}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(bodies[p%distinct])
	}))
	return srv, len(bodies[0])
}

func run(records int64) error {
	work, bin, cleanup, err := benchkit.Workspace("httpapi")
	if err != nil {
		return err
	}
	defer cleanup()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	srv, pageBytes := api()
	defer srv.Close()
	pages := records / pageSize
	records = pages * pageSize
	bytesFor := func(n int64) int64 { return n / pageSize * int64(pageSize) }
	fmt.Fprintf(os.Stderr, "bench/httpapi: %d records in %d pages of %d bytes\n", records, pages, pageBytes)

	child := func(name, c string, n int64) (benchkit.Case, error) {
		cmd := exec.Command(self, "-case", c, "-url", fmt.Sprintf("%s/%d/", srv.URL, n/pageSize))
		cmd.Stderr = os.Stderr
		m, err := benchkit.Child(name, n, cmd)
		m.Bytes = bytesFor(n) * int64(pageBytes) / pageSize
		return m, err
	}
	var cases []benchkit.Case
	for _, c := range []struct {
		name, id string
		n        int64
	}{
		{"encoding/json → []map[string]any (baseline)", "maps", records},
		{"httpapi consumer → Arrow, a tenth of the pages", "consumer", records / 10},
		{"httpapi consumer → Arrow", "consumer", records},
	} {
		m, err := child(c.name, c.id, c.n)
		if err != nil {
			return err
		}
		cases = append(cases, m)
	}
	// End to end: the real binary, httpapi → Parquet.
	dir := filepath.Join(work, "e2e")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(fmt.Sprintf(pipeline, fmt.Sprintf("%s/%d/", srv.URL, pages))), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "run", "p.yaml", "--run", "2026-11-22", "--workers", "1", "--progress", "none", "--log-level", "warn")
	cmd.Dir, cmd.Stderr = dir, os.Stderr
	m, err := benchkit.Child("jetflow run httpapi → Parquet (zstd)", records, cmd)
	if err != nil {
		return err
	}
	m.Bytes = records * int64(pageBytes) / pageSize
	cases = append(cases, m)

	fmt.Printf("\nHTTP JSON API, %d records of ~%d bytes in pages of %d, server in the parent process (MB/s: JSON read):\n",
		records, pageBytes/pageSize, pageSize)
	if err := benchkit.Table(os.Stdout, cases, 0); err != nil {
		return err
	}
	small, large := cases[1], cases[2]
	fmt.Printf("consumer / baseline records/s: %.2fx (target ≥ 3x); consumer peak RSS %d pages / %d pages: %.2fx (flat: ≤ 1.3x)\n",
		large.RowsPerSec()/cases[0].RowsPerSec(), pages, pages/10, float64(large.RSSKB)/float64(small.RSSKB))
	return nil
}

// runCase is one child: it reads every page of url and exits.
func runCase(name, url string) error {
	switch name {
	case "maps":
		hc := &http.Client{}
		for p := 1; ; p++ {
			resp, err := hc.Get(fmt.Sprintf("%s?page=%d&limit=%d", url, p, pageSize))
			if err != nil {
				return err
			}
			var page struct {
				Data []map[string]any `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if len(page.Data) < pageSize {
				return nil
			}
		}
	case "consumer":
		_, err := benchkit.ReadConsumer(context.Background(), fmt.Sprintf(pipeline, url), "2026-11-22")
		return err
	}
	return fmt.Errorf("unknown case %q", name)
}
