package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// item is record i of the fake API.
func item(i int) map[string]any {
	return map[string]any{"id": i, "name": "n" + strconv.Itoa(i), "score": float64(i) + 0.5}
}

func items(lo, hi int) []map[string]any {
	out := []map[string]any{}
	for i := lo; i < hi; i++ {
		out = append(out, item(i))
	}
	return out
}

func writeJSON(t testing.TB, w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		t.Errorf("fake API: encoding a response: %v", err)
	}
}

func qint(r *http.Request, name string, def int) int {
	if v := r.URL.Query().Get(name); v != "" {
		n, _ := strconv.Atoi(v)
		return n
	}
	return def
}

// testConfig is a config as the YAML loader fills it, with its defaults.
func testConfig(url string) Config {
	return Config{
		URL: url, Method: "GET", InferPages: 1, Concurrency: 4, Retries: 3, Backoff: stage.Duration(1e6),
		MaxBackoff: stage.Duration(1e7), Timeout: stage.Duration(5e9), MaxResponseSize: 1 << 20, BatchRows: 7,
		Auth:       Auth{Type: "none", Name: "X-API-Key", In: "header"},
		Pagination: Pagination{Type: "none", PageParam: "page", FirstPage: 1, OffsetParam: "offset", LimitParam: "limit", CursorParam: "cursor"},
		Schema:     []Column{{Name: "id", Type: "int64"}, {Name: "name", Type: "string"}, {Name: "score", Type: "float64"}},
	}
}

func newConsumer(t testing.TB, mem memory.Allocator, cfg Config) *Consumer {
	t.Helper()
	c, err := New(stage.BuildContext{Pipeline: "test", Alloc: mem}, &cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// readOne reads the single partition of the test run instance into one batch (nil when empty).
func readOne(t *testing.T, mem memory.Allocator, c *Consumer) arrow.RecordBatch {
	t.Helper()
	parts, err := c.Partitions(t.Context(), testkit.RunInstance())
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 {
		t.Fatalf("%d partitions, want 1", len(parts))
	}
	batches := testkit.ReadPartition(t.Context(), t, c, parts[0])
	defer testkit.ReleaseAll(batches)
	if len(batches) == 0 {
		return nil
	}
	return testkit.ConcatRecords(mem, batches)
}

// readErr reads the single partition and returns its error.
func readErr(t *testing.T, c *Consumer) error {
	t.Helper()
	parts, err := c.Partitions(t.Context(), testkit.RunInstance())
	if err != nil {
		t.Fatal(err)
	}
	return c.Read(t.Context(), parts[0], func(arrow.RecordBatch) error { return nil })
}

func wantItems(t *testing.T, mem memory.Allocator, schema *arrow.Schema, lo, hi int) arrow.RecordBatch {
	b, _ := json.Marshal(items(lo, hi))
	return testkit.Records(t, mem, schema, string(b))
}

func TestPagination(t *testing.T) {
	const n, limit = 25, 10
	tests := []struct {
		name     string
		pg       Pagination
		records  string
		handler  func(t *testing.T, w http.ResponseWriter, r *http.Request)
		requests int64
	}{
		{
			name: "page number, short last page",
			pg:   Pagination{Type: "page", PageParam: "p", FirstPage: 1, LimitParam: "per_page", Limit: limit},
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				p, per := qint(r, "p", -1), qint(r, "per_page", -1)
				lo := (p - 1) * per
				writeJSON(t, w, items(min(lo, n), min(lo+per, n)))
			},
			requests: 3,
		},
		{
			name: "page number, empty last page, no limit",
			pg:   Pagination{Type: "page", PageParam: "page", FirstPage: 0},
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				lo := qint(r, "page", -1) * limit
				writeJSON(t, w, items(min(lo, n), min(lo+limit, n)))
			},
			requests: 4,
		},
		{
			name:    "offset and limit",
			pg:      Pagination{Type: "offset", OffsetParam: "offset", LimitParam: "limit", Limit: limit},
			records: "data",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				lo, l := qint(r, "offset", -1), qint(r, "limit", -1)
				writeJSON(t, w, map[string]any{"data": items(min(lo, n), min(lo+l, n))})
			},
			requests: 3,
		},
		{
			name:    "offset stops at a total",
			pg:      Pagination{Type: "offset", OffsetParam: "offset", LimitParam: "limit", Limit: 5, TotalPath: "meta.total"},
			records: "data",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				lo := qint(r, "offset", -1)
				// Every page is full: only the total ends the partition (the server keeps returning records).
				writeJSON(t, w, map[string]any{"meta": map[string]any{"total": n}, "data": items(lo, lo+5)})
			},
			requests: 5,
		},
		{
			name:    "cursor in the body",
			pg:      Pagination{Type: "cursor", CursorPath: "paging.next", CursorParam: "after"},
			records: "results.items",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				lo := 0
				if a := r.URL.Query().Get("after"); a != "" {
					lo, _ = strconv.Atoi(strings.TrimPrefix(a, "c"))
				}
				hi := min(lo+limit, n)
				var next any
				if hi < n {
					next = fmt.Sprintf("c%d", hi)
				}
				// The cursor comes after the records: the walk must still find it.
				writeJSON(t, w, map[string]any{"results": map[string]any{"items": items(lo, hi), "count": hi - lo}, "paging": map[string]any{"next": next}})
			},
			requests: 3,
		},
		{
			name:    "next URL in the body, relative",
			pg:      Pagination{Type: "next_url", NextURLPath: "next"},
			records: "items",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				lo := qint(r, "from", 0)
				hi := min(lo+limit, n)
				body := map[string]any{"items": items(lo, hi)}
				if hi < n {
					body["next"] = fmt.Sprintf("/api?from=%d", hi)
				}
				writeJSON(t, w, body)
			},
			requests: 3,
		},
		{
			name: "Link header",
			pg:   Pagination{Type: "link_header"},
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				lo := qint(r, "from", 0)
				hi := min(lo+limit, n)
				if hi < n {
					w.Header().Add("Link", fmt.Sprintf(`<http://%s/api?from=0>; rel="first", <http://%s/api?from=%d>; rel="next"`, r.Host, r.Host, hi))
				}
				writeJSON(t, w, items(lo, hi))
			},
			requests: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				tt.handler(t, w, r)
			}))
			defer srv.Close()
			cfg := testConfig(srv.URL + "/api")
			cfg.Pagination, cfg.Records = tt.pg, tt.records
			// first_page is as each case writes it, 0 included (the tags default an absent one to 1).
			reg, _ := stage.Lookup(stage.KindConsumer, "httpapi")
			src, err := reg.BuildPresent(stage.BuildContext{Pipeline: "test", Alloc: mem}, &cfg, stage.Given(&cfg, "pagination.first_page"))
			if err != nil {
				t.Fatal(err)
			}
			c := src.(*Consumer)
			got := readOne(t, mem, c)
			defer got.Release()
			want := wantItems(t, mem, got.Schema(), 0, n)
			defer want.Release()
			testkit.AssertRecordsEqual(t, want, got)
			if r := requests.Load(); r != tt.requests {
				t.Errorf("%d requests, want %d", r, tt.requests)
			}
		})
	}
}

func TestRepeatsAreDetected(t *testing.T) {
	tests := []struct {
		name    string
		pg      Pagination
		handler http.HandlerFunc
		want    string
	}{
		{
			name: "cursor",
			pg:   Pagination{Type: "cursor", CursorPath: "next", CursorParam: "cursor"},
			handler: func(w http.ResponseWriter, r *http.Request) {
				// A buggy API: the cursor goes a, b, a, b, ...
				next := "a"
				if r.URL.Query().Get("cursor") == "a" {
					next = "b"
				}
				fmt.Fprintf(w, `{"items": [{"id": 1}], "next": %q}`, next)
			},
			want: `cursor "a" a second time`,
		},
		{
			name: "next URL",
			pg:   Pagination{Type: "next_url", NextURLPath: "next"},
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"items": [{"id": 1}], "next": "/api?x=1"}`)
			},
			want: "already read",
		},
		{
			name: "Link header pointing at itself",
			pg:   Pagination{Type: "link_header"},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", `</api>; rel="next"`)
				fmt.Fprint(w, `{"items": [{"id": 1}]}`)
			},
			want: "already read",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if requests.Add(1) > 10 {
					http.Error(w, "looping", http.StatusBadRequest)
					return
				}
				tt.handler(w, r)
			}))
			defer srv.Close()
			cfg := testConfig(srv.URL + "/api")
			cfg.Records, cfg.Pagination = "items", tt.pg
			cfg.Pagination.CursorParam = "cursor"
			err := readErr(t, newConsumer(t, mem, cfg))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if r := requests.Load(); r > 4 {
				t.Errorf("%d requests before the repeat was noticed", r)
			}
		})
	}
}

func TestDecodeDeclaredTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	body := `{"data": {"items": [
		{"i": 1, "i32": 7, "f": 1.5, "b": true, "s": "x", "d": "2026-01-01", "ts": "2026-01-01T10:00:00.5Z", "ep": 1767261600000000,
		 "dec": "12.34", "l": [1, 2], "st": {"a": 1, "b": "q", "extra": [1, {"z": 2}]}, "raw": {"k": [1, "two", null, true]}, "ignored": {"deep": [1]}},
		{"i": 3.0, "i32": null, "f": 2, "b": false, "s": 12, "d": null, "ts": null, "dec": 5, "l": [], "st": {}, "raw": "plain"},
		{}
	]}, "after": [1, 2, {"x": "y"}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.Records = "data.items"
	cfg.Schema = []Column{
		{Name: "i", Type: "int64"}, {Name: "i32", Type: "int32"}, {Name: "f", Type: "float64"}, {Name: "b", Type: "bool"},
		{Name: "s", Type: "string"}, {Name: "d", Type: "date32"}, {Name: "ts", Type: "timestamp[ms, UTC]"},
		{Name: "ep", Type: "timestamp[us, UTC]"}, {Name: "dec", Type: "decimal(9,2)"}, {Name: "l", Type: "list<int64>"},
		{Name: "st", Type: "struct<a: int64, b: string>"}, {Name: "raw", Type: "large_string"},
	}
	c := newConsumer(t, mem, cfg)
	got := readOne(t, mem, c)
	defer got.Release()
	want := testkit.Records(t, mem, got.Schema(), `[
		{"i": 1, "i32": 7, "f": 1.5, "b": true, "s": "x", "d": "2026-01-01", "ts": 1767261600500, "ep": 1767261600000000,
		 "dec": "12.34", "l": [1, 2], "st": {"a": 1, "b": "q"}, "raw": "{\"k\":[1,\"two\",null,true]}"},
		{"i": 3, "f": 2, "b": false, "s": "12", "dec": "5.00", "l": [], "st": {"a": null, "b": null}, "raw": "plain"},
		{}
	]`)
	defer want.Release()
	testkit.AssertRecordsEqual(t, want, got)
}

func TestInferSchema(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	pages := []string{
		`[{"id": 1, "n": 1, "mixed": 1, "obj": {"a": 1}, "tags": [1], "nul": null},
		  {"id": 2, "n": 2.5, "mixed": "x", "obj": {"a": 2, "b": true}, "tags": [2.5]}]`,
		// Page 2 is read by infer_pages: 2; "late" first appears on page 3, after inference: it is ignored.
		`[{"id": 3, "mixed": true, "obj": null, "tags": null, "nul": null}]`,
		`[{"id": 4, "late": "dropped", "mixed": [1, {"a": "b"}]}]`,
		`[]`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, pages[qint(r, "page", 1)-1])
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.Schema, cfg.InferPages = nil, 2
	cfg.Pagination.Type = "page"
	c := newConsumer(t, mem, cfg)
	if _, known, _ := c.DeclaredSchema(); known {
		t.Error("DeclaredSchema reports a schema known from config; it is inferred")
	}
	parts, _ := c.Partitions(t.Context(), testkit.RunInstance())
	schema, err := c.Schema(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantSchema := "id: int64, n: float64, mixed: string, obj: struct<a: int64, b: bool>, tags: list<float64>, nul: string"
	var fs []string
	for _, f := range schema.Fields() {
		fs = append(fs, f.Name+": "+arrowtype.Format(f.Type))
	}
	if got := strings.Join(fs, ", "); got != wantSchema {
		t.Errorf("inferred schema\n got: %s\nwant: %s", got, wantSchema)
	}
	batches := testkit.ReadPartition(t.Context(), t, c, parts[0])
	got := testkit.ConcatRecords(mem, batches)
	testkit.ReleaseAll(batches)
	defer got.Release()
	want := testkit.Records(t, mem, schema, `[
		{"id": 1, "n": 1, "mixed": "1", "obj": {"a": 1}, "tags": [1]},
		{"id": 2, "n": 2.5, "mixed": "x", "obj": {"a": 2, "b": true}, "tags": [2.5]},
		{"id": 3, "mixed": "true"},
		{"id": 4, "mixed": "[1,{\"a\":\"b\"}]"}
	]`)
	defer want.Release()
	testkit.AssertRecordsEqual(t, want, got)
}

func TestEmptyFirstPage(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	for _, body := range []string{`{"data": []}`, `{"data": null}`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
		cfg := testConfig(srv.URL)
		cfg.Records = "data"
		cfg.Pagination = Pagination{Type: "page", PageParam: "page", FirstPage: 1, LimitParam: "limit", Limit: 10}
		if got := readOne(t, mem, newConsumer(t, mem, cfg)); got != nil {
			t.Errorf("%s: got %d rows, want no batch", body, got.NumRows())
			got.Release()
		}
		srv.Close()
	}
}

func TestBatchesAreCutBetweenPages(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lo := qint(r, "offset", 0)
		writeJSON(t, w, items(lo, min(lo+4, 18)))
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.BatchRows = 7
	cfg.Pagination = Pagination{Type: "offset", OffsetParam: "offset", LimitParam: "limit", Limit: 4}
	c := newConsumer(t, mem, cfg)
	parts, _ := c.Partitions(t.Context(), testkit.RunInstance())
	var sizes []int64
	err := c.Read(t.Context(), parts[0], func(b arrow.RecordBatch) error {
		sizes = append(sizes, b.NumRows())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Pages of 4, 4, 4, 4, 2: a batch closes once it holds 7 rows or more, at the end of a page.
	if fmt.Sprint(sizes) != "[8 8 2]" {
		t.Errorf("batch sizes %v, want [8 8 2]", sizes)
	}
}

func TestRenderRequest(t *testing.T) {
	mem := memory.NewGoAllocator()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		got = append(got, fmt.Sprintf("%s %s ct=%s x=%s body=%v", r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), r.Header.Get("X-Run"), body))
		fmt.Fprint(w, `[]`)
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL + `/v1/{{ .RunLabel }}/events`)
	cfg.Method = "POST"
	cfg.Headers = map[string]string{"X-Run": "{{ .RunInstance | date \"20060102\" }}"}
	cfg.Params = map[string]string{"from": "{{ .Partition.Lo }}", "to_unix": "{{ .Partition.Hi | unix }}", "q": "a b&c"}
	cfg.Body = `{"since": "{{ .Partition.Lo }}", "pipeline": "{{ .Pipeline }}"}`
	cfg.Partition = PartitionConfig{Every: stage.Duration(12 * 3600e9), SinceParam: "updated_since", UntilParam: "updated_until", TimeFormat: "unix"}
	c := newConsumer(t, mem, cfg)
	parts, err := c.Partitions(t.Context(), testkit.RunInstance())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, p := range parts {
		keys = append(keys, p.Key)
		if err := c.Read(t.Context(), p, func(arrow.RecordBatch) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	wantKeys := "window[2026-01-01T00:00:00Z,2026-01-01T12:00:00Z) window[2026-01-01T12:00:00Z,2026-01-02T00:00:00Z)"
	if strings.Join(keys, " ") != wantKeys {
		t.Errorf("keys %q, want %q", keys, wantKeys)
	}
	want := []string{
		"POST /v1/2026-01-01/events?from=2026-01-01T00%3A00%3A00Z&q=a+b%26c&to_unix=1767268800&updated_since=1767225600&updated_until=1767268800 ct=application/json x=20260101 body=map[pipeline:test since:2026-01-01T00:00:00Z]",
		"POST /v1/2026-01-01/events?from=2026-01-01T12%3A00%3A00Z&q=a+b%26c&to_unix=1767312000&updated_since=1767268800&updated_until=1767312000 ct=application/json x=20260101 body=map[pipeline:test since:2026-01-01T12:00:00Z]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

func TestPartitionsByID(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acct := strings.TrimPrefix(r.URL.Path, "/accounts/")
		if r.URL.Query().Get("account") != acct {
			http.Error(w, "id_param and path disagree", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `[{"id": %d, "name": %q}]`, len(acct), acct)
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL + "/accounts/{{ .Partition.Lo }}")
	cfg.Partition = PartitionConfig{IDs: []string{"a", "bb", "ccc"}, IDParam: "account"}
	c := newConsumer(t, mem, cfg)
	parts, err := c.Partitions(t.Context(), testkit.RunInstance())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range parts {
		bs := testkit.ReadPartition(t.Context(), t, c, p)
		for _, b := range bs {
			names = append(names, p.Key+":"+testkit.CellText(b.Column(1), 0))
		}
		testkit.ReleaseAll(bs)
	}
	if got := strings.Join(names, " "); got != `id=a:"a" id=bb:"bb" id=ccc:"ccc"` {
		t.Errorf("got %s", got)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *Config)
		paths string
	}{
		{"no url", func(c *Config) { c.URL = "" }, "url"},
		{"bad template", func(c *Config) { c.URL = "http://x/{{ .Nope }}" }, "url"},
		{"relative url", func(c *Config) { c.URL = "/api" }, "url"},
		{"bad type", func(c *Config) { c.Schema = []Column{{Name: "a", Type: "int65"}} }, "schema[0].type"},
		{"unsupported type", func(c *Config) { c.Schema = []Column{{Name: "a", Type: "uint8"}} }, "schema[0].type"},
		{"duplicate column", func(c *Config) { c.Schema = []Column{{Name: "a", Type: "int64"}, {Name: "a", Type: "string"}} }, "schema[1].name"},
		{"offset without limit", func(c *Config) { c.Pagination.Type = "offset" }, "pagination.limit"},
		{"cursor without path", func(c *Config) { c.Pagination.Type = "cursor" }, "pagination.cursor_path"},
		{"cursor inside records", func(c *Config) {
			c.Records = "data"
			c.Pagination.Type, c.Pagination.CursorPath = "cursor", "data.next"
		}, "pagination.cursor_path"},
		{"bearer without token", func(c *Config) { c.Auth.Type = "bearer" }, "auth.token"},
		{"oauth2 without secret", func(c *Config) {
			c.Auth = Auth{Type: "oauth2", TokenURL: "http://x/token", ClientID: "id"}
		}, "auth.client_secret"},
		{"every and ids", func(c *Config) {
			c.Partition = PartitionConfig{Every: stage.Duration(3600e9), IDs: []string{"a"}}
		}, "partition"},
		{"duplicate id", func(c *Config) { c.Partition.IDs = []string{"a", "a"} }, "partition.ids[1]"},
		{"since without every", func(c *Config) { c.Partition.SinceParam = "since" }, "partition.every"},
		{"bad method", func(c *Config) { c.Method = "DELETE" }, "method"},
		{"negative retries", func(c *Config) { c.Retries = -1 }, "retries"},
		{"fanout without url", func(c *Config) {
			c.Schema, c.Fanout = nil, &Fanout{Schema: []Column{{Name: "a", Type: "int64"}}}
		}, "fanout.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://api.example/v1")
			tt.edit(&cfg)
			_, err := New(stage.BuildContext{Alloc: memory.NewGoAllocator()}, &cfg)
			if err == nil {
				t.Fatal("New accepted the config")
			}
			fields, other := stage.FieldErrors(err)
			var paths []string
			for _, f := range fields {
				paths = append(paths, f.Path)
			}
			if strings.Join(paths, ",") != tt.paths || len(other) > 0 {
				t.Errorf("error paths %q (others %v), want %q; error: %v", paths, other, tt.paths, err)
			}
		})
	}
}

func TestLinkNext(t *testing.T) {
	tests := []struct{ header, want string }{
		{`<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last"`, "https://a/x?page=2"},
		{`<https://a/x?page=1>; rel="prev first", <https://a/x?a=1,2>; rel=next`, "https://a/x?a=1,2"},
		{`<https://a/x?page=9>; rel="last"`, ""},
		{`<https://a/x?q=1>; title="a, b"; rel="next"`, "https://a/x?q=1"},
	}
	for _, tt := range tests {
		if got := linkNext([]string{tt.header}); got != tt.want {
			t.Errorf("linkNext(%s) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestParentFields(t *testing.T) {
	pages := []string{
		`{"account": {"id": 42, "tags": ["a"]}, "data": {"items": [{"id": 1}, {"id": 2}]}, "generated_at": "2026-01-01T10:00:00Z"}`,
		// The envelope after the records, a null and an absent value.
		`{"data": {"items": [{"id": 3}]}, "account": {"id": null, "tags": {"k": 1}}}`,
		`{"data": {"items": []}}`,
	}
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("declared schema %v", declared), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, pages[qint(r, "page", 1)-1])
			}))
			defer srv.Close()
			cfg := testConfig(srv.URL)
			cfg.Records = "data.items"
			cfg.Pagination.Type = "page"
			cfg.Schema = []Column{{Name: "id", Type: "int64"}}
			if !declared {
				cfg.Schema = nil
			}
			cfg.ParentFields = []ParentField{
				{Name: "account_id", Path: "account.id", Type: "int64"},
				{Name: "account_tags", Path: "account.tags"}, // string: any JSON as text
				{Name: "generated_at", Path: "generated_at", Type: "timestamp[s, UTC]"},
			}
			c := newConsumer(t, mem, cfg)
			got := readOne(t, mem, c)
			defer got.Release()
			want := testkit.Records(t, mem, got.Schema(), `[
				{"id": 1, "account_id": 42, "account_tags": "[\"a\"]", "generated_at": 1767261600},
				{"id": 2, "account_id": 42, "account_tags": "[\"a\"]", "generated_at": 1767261600},
				{"id": 3, "account_tags": "{\"k\":1}"}
			]`)
			defer want.Release()
			testkit.AssertRecordsEqual(t, want, got)
			if got.Schema().Field(0).Name != "id" || got.Schema().NumFields() != 4 {
				t.Errorf("schema %s, want id then the three parent fields", got.Schema())
			}
		})
	}
}
