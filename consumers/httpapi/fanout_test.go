package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

func TestFanout(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	var childRequests atomic.Int64
	mux := http.NewServeMux()
	// Parents: three orders in two pages (by cursor); order "o/2" has no lines.
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			fmt.Fprint(w, `{"orders": [{"id": "o/1", "region": "eu", "meta": {"x": 1}}, {"id": "o/2", "region": null}], "next": "c2"}`)
			return
		}
		fmt.Fprint(w, `{"orders": [{"id": "o/3", "region": "us"}], "next": null}`)
	})
	// Children: the lines of an order, two per page by page number.
	lines := map[string]int{"o/1": 3, "o/2": 0, "o/3": 2}
	mux.HandleFunc("GET /orders/{id}/lines", func(w http.ResponseWriter, r *http.Request) {
		childRequests.Add(1)
		id := r.PathValue("id")
		n, ok := lines[id]
		if !ok {
			http.Error(w, "no such order "+id, http.StatusNotFound)
			return
		}
		page := qint(r, "page", 1)
		var recs []string
		for i := (page - 1) * 2; i < min(page*2, n); i++ {
			recs = append(recs, fmt.Sprintf(`{"line": %d, "sku": "%s-%d"}`, i, id, i))
		}
		fmt.Fprintf(w, `{"data": [%s]}`, strings.Join(recs, ","))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cfg := testConfig(srv.URL + "/orders")
	cfg.Schema = nil
	cfg.Records = "orders"
	cfg.Pagination = Pagination{Type: "cursor", CursorPath: "next"}
	cfg.Fanout = &Fanout{
		URL:        srv.URL + "/orders/{{ .Parent.id | urlquery }}/lines",
		Records:    "data",
		Pagination: Pagination{Type: "page", FirstPage: 1, Limit: 2, LimitParam: "size"},
		Schema:     []Column{{Name: "line", Type: "int32"}, {Name: "sku", Type: "string"}},
		Carry:      []CarryField{{Name: "order_id", Field: "id"}, {Name: "region", Field: "region"}, {Name: "meta", Field: "meta"}},
	}
	c := newConsumer(t, mem, cfg)
	got := readOne(t, mem, c)
	defer got.Release()
	want := testkit.Records(t, mem, got.Schema(), `[
		{"line": 0, "sku": "o/1-0", "order_id": "o/1", "region": "eu", "meta": "{\"x\":1}"},
		{"line": 1, "sku": "o/1-1", "order_id": "o/1", "region": "eu", "meta": "{\"x\":1}"},
		{"line": 2, "sku": "o/1-2", "order_id": "o/1", "region": "eu", "meta": "{\"x\":1}"},
		{"line": 0, "sku": "o/3-0", "order_id": "o/3", "region": "us"},
		{"line": 1, "sku": "o/3-1", "order_id": "o/3", "region": "us"}
	]`)
	defer want.Release()
	testkit.AssertRecordsEqual(t, want, got)
	// o/1: a full page then a short one; o/2: one empty page; o/3: a full page, then an empty one.
	if n := childRequests.Load(); n != 5 {
		t.Errorf("%d child requests, want 5", n)
	}
	if d, ok, _ := c.DeclaredSchema(); !ok || d.NumFields() != 5 {
		t.Errorf("declared schema %v, want the children's two columns and three carried", d)
	}

	// A child endpoint that fails names the child URL.
	lines = map[string]int{"o/1": 1}
	err := readErr(t, c)
	if err == nil || !strings.Contains(err.Error(), "page 1 of GET "+srv.URL+"/orders/o%2F2/lines?page=1&size=2: status 404") {
		t.Errorf("error %v, want the failing child request", err)
	}
}

func TestFanoutConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name  string
		edit  func(c *Config)
		paths string
	}{
		{"top-level schema", func(c *Config) {}, "schema"},
		{"no child schema", func(c *Config) { c.Schema, c.Fanout.Schema = nil, nil }, "fanout.schema"},
		{"child pagination", func(c *Config) { c.Schema, c.Fanout.Pagination.Type = nil, "cursor" }, "fanout.pagination.cursor_path"},
		{"carry over a child column", func(c *Config) {
			c.Schema = nil
			c.Fanout.Carry = []CarryField{{Name: "sku", Field: "id"}}
		}, "fanout.carry[0].name"},
		{"bad child template", func(c *Config) { c.Schema, c.Fanout.URL = nil, "http://x/{{ .Parent.id" }, "fanout.url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://api.example/orders")
			cfg.Fanout = &Fanout{URL: "http://api.example/orders/{{ .Parent.id }}/lines", Schema: []Column{{Name: "sku", Type: "string"}}}
			tt.edit(&cfg)
			_, err := New(stage.BuildContext{}, &cfg)
			fields, other := stage.FieldErrors(err)
			var paths []string
			for _, f := range fields {
				paths = append(paths, f.Path)
			}
			if strings.Join(paths, ",") != tt.paths || len(other) > 0 {
				t.Errorf("error paths %v (others %v), want %s; error: %v", paths, other, tt.paths, err)
			}
		})
	}
}
