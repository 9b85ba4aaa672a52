package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/testkit"
)

const (
	benchPageSize = 1000
	benchPages    = 1000 // 1M records per op
	benchBodies   = 8    // distinct page bodies, served in turn, so the server costs little
)

// benchAPI serves benchPages pages of benchPageSize records of about 300 bytes each, by page number.
func benchAPI(b *testing.B) (*httptest.Server, int) {
	bodies := make([][]byte, benchBodies)
	for k := range bodies {
		var sb strings.Builder
		sb.WriteString(`{"data": [`)
		for i := range benchPageSize {
			if i > 0 {
				sb.WriteByte(',')
			}
			id := k*benchPageSize + i
			fmt.Fprintf(&sb, `{"id": %d, "account_id": %d, "email": "user%d@example.com", "name": "User Number %d", `+
				`"amount": %d.%02d, "active": %t, "created_at": "2026-11-22T10:%02d:%02dZ", "status": "shipped", `+
				`"tags": ["alpha", "beta"], "address": {"city": "Lisbon", "zip": "1000-%03d"}, "note": "deliver between nine and five"}`,
				id, id%977, id, id, id%10000, id%100, id%2 == 0, (id/60)%60, id%60, id%1000)
		}
		sb.WriteString(`], "meta": {"page_size": 1000}}`)
		bodies[k] = []byte(sb.String())
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if p < 1 || p > benchPages {
			w.Write([]byte(`{"data": []}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(bodies[p%benchBodies])
	}))
	b.Cleanup(srv.Close)
	return srv, len(bodies[0]) / benchPageSize
}

// BenchmarkDecode reads 1M records in pages of 1,000 from an httptest API: the consumer into Arrow, against a
// baseline of the same pages decoded by encoding/json into []map[string]any. Both report records/s.
func BenchmarkDecode(b *testing.B) {
	srv, recBytes := benchAPI(b)
	b.Logf("records of about %d bytes", recBytes)
	const records = benchPageSize * benchPages

	b.Run("consumer", func(b *testing.B) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		cfg := testConfig(srv.URL)
		cfg.Records = "data"
		cfg.BatchRows = 64 * 1024
		cfg.Pagination = Pagination{Type: "page", PageParam: "page", FirstPage: 1, LimitParam: "limit", Limit: benchPageSize}
		cfg.Schema = []Column{
			{Name: "id", Type: "int64"}, {Name: "account_id", Type: "int64"}, {Name: "email", Type: "string"},
			{Name: "name", Type: "string"}, {Name: "amount", Type: "float64"}, {Name: "active", Type: "bool"},
			{Name: "created_at", Type: "timestamp[us, UTC]"}, {Name: "status", Type: "string"},
			{Name: "tags", Type: "list<string>"}, {Name: "address", Type: "struct<city: string, zip: string>"},
			{Name: "note", Type: "string"},
		}
		c := newConsumer(b, mem, cfg)
		parts, err := c.Partitions(b.Context(), testkit.RunInstance())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			var rows int64
			err := c.Read(b.Context(), parts[0], func(r arrow.RecordBatch) error {
				rows += r.NumRows()
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if rows != records {
				b.Fatalf("%d rows, want %d", rows, records)
			}
		}
		b.ReportMetric(float64(b.N)*records/b.Elapsed().Seconds(), "records/s")
		mem.AssertSize(b, 0)
	})

	b.Run("encoding-json-maps", func(b *testing.B) {
		hc := &http.Client{}
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for p := 1; ; p++ {
				resp, err := hc.Get(fmt.Sprintf("%s?page=%d&limit=%d", srv.URL, p, benchPageSize))
				if err != nil {
					b.Fatal(err)
				}
				var page struct {
					Data []map[string]any `json:"data"`
				}
				err = json.NewDecoder(resp.Body).Decode(&page)
				resp.Body.Close()
				if err != nil {
					b.Fatal(err)
				}
				n += len(page.Data)
				if len(page.Data) < benchPageSize {
					break
				}
			}
			if n != records {
				b.Fatalf("%d records, want %d", n, records)
			}
		}
		b.ReportMetric(float64(b.N)*records/b.Elapsed().Seconds(), "records/s")
	})
}
