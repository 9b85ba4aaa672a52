package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// TestSchemaEvolution feeds records with fields the schema lacks — declared, or appearing after inference — to
// each schema_evolution policy: nothing is dropped without a log line, fail names the field and the page, and
// extra_column keeps the unknown fields as a JSON object that round-trips.
func TestSchemaEvolution(t *testing.T) {
	pages := []string{
		`[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]`,
		`[{"id": 3, "name": "c", "late": {"x": [1, 2.5]}, "q": "say \"hi\"\n", "id": 99},
		  {"id": 4, "late": null}]`,
		`[]`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, pages[qint(r, "page", 1)-1])
	}))
	defer srv.Close()

	for _, tt := range []struct {
		name, policy string
		declared     bool
		wantSchema   string
		wantExtra    []string // the extra column per row ("" null); nil when there is none
		wantLog      string   // a fragment of the warning
		wantErr      string
	}{
		{name: "declared, ignore", policy: "ignore", declared: true, wantSchema: "id: int64, name: string",
			wantLog: "fields=\"late (2 records), q (1 records)\""},
		{name: "inferred, ignore", policy: "ignore", wantSchema: "id: int64, name: string",
			wantLog: "late (2 records)"},
		{name: "declared, fail", policy: "fail", declared: true,
			wantErr: `page 2 of GET ` + srv.URL + `?page=2: record 0: field "late" is not in the schema (schema_evolution: fail)`},
		{name: "inferred, fail", policy: "fail", wantErr: `field "late" is not in the schema`},
		{name: "declared, extra_column", policy: "extra_column", declared: true,
			wantSchema: "id: int64, name: string, _extra: string",
			wantExtra:  []string{"", "", `{"late":{"x":[1,2.5]},"q":"say \"hi\"\u000a"}`, `{"late":null}`}},
		{name: "inferred, extra_column", policy: "extra_column",
			wantSchema: "id: int64, name: string, _extra: string",
			wantExtra:  []string{"", "", `{"late":{"x":[1,2.5]},"q":"say \"hi\"\u000a"}`, `{"late":null}`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			cfg := testConfig(srv.URL)
			cfg.Pagination.Type = "page"
			cfg.SchemaEvolution, cfg.ExtraColumn = tt.policy, "_extra"
			cfg.Schema = []Column{{Name: "id", Type: "int64"}, {Name: "name", Type: "string"}}
			if !tt.declared {
				cfg.Schema = nil // inferred from page 1, which lacks late and q
			}
			var logs bytes.Buffer
			c, err := New(stage.BuildContext{Pipeline: "test", Alloc: mem, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			parts, err := c.Partitions(t.Context(), testkit.RunInstance())
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				err := readErr(t, c)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			batches := testkit.ReadPartition(t.Context(), t, c, parts[0])
			got := testkit.ConcatRecords(mem, batches)
			testkit.ReleaseAll(batches)
			defer got.Release()
			var fs []string
			for _, f := range got.Schema().Fields() {
				fs = append(fs, f.Name+": "+arrowtype.Format(f.Type))
			}
			if s := strings.Join(fs, ", "); s != tt.wantSchema {
				t.Errorf("schema %s, want %s", s, tt.wantSchema)
			}
			if got.NumRows() != 4 {
				t.Errorf("%d rows, want 4", got.NumRows())
			}
			// The first of a repeated key wins, extra_column or not.
			if ids := got.Column(0).(*array.Int64).Int64Values(); ids[2] != 3 {
				t.Errorf("ids %v: the repeated key replaced the first", ids)
			}
			if tt.wantExtra != nil {
				extra := got.Column(got.Schema().NumFields() - 1).(*array.String)
				for i, want := range tt.wantExtra {
					if (want == "") != extra.IsNull(i) || (want != "" && extra.Value(i) != want) {
						t.Errorf("row %d: extra %q (null %v), want %q", i, extra.Value(i), extra.IsNull(i), want)
					}
					if want != "" && !json.Valid([]byte(extra.Value(i))) {
						t.Errorf("row %d: extra %q is not valid JSON", i, extra.Value(i))
					}
				}
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q, want it to contain %q", logs.String(), tt.wantLog)
			}
			if tt.wantLog == "" && strings.Contains(logs.String(), "dropped") {
				t.Errorf("log %q reports dropped fields", logs.String())
			}
		})
	}
}
