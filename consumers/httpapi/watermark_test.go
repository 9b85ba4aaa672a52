package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/testkit"
)

// TestIncremental plays the engine's part of the proposed watermark hook against a real SQLite state store:
// resume from the stored watermark, read, store the partition's watermark after its commit, run again.
func TestIncremental(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var mu sync.Mutex
	updated := []string{"2026-11-22T08:00:00Z", "2026-11-22T09:30:00.123456Z", "2026-11-22T09:00:00Z"}
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		since := r.URL.Query().Get("updated_since")
		sent = append(sent, since)
		var recs []string
		for i, u := range updated {
			at, _ := time.Parse(time.RFC3339Nano, u)
			if s, err := time.Parse(time.RFC3339Nano, since); err == nil && at.Before(s) {
				continue
			}
			recs = append(recs, fmt.Sprintf(`{"id": %d, "updated_at": %q}`, i, u))
		}
		fmt.Fprintf(w, `{"items": [%s]}`, strings.Join(recs, ","))
	}))
	defer srv.Close()

	store, err := state.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg := testConfig(srv.URL)
	cfg.Records = "items"
	cfg.Schema = []Column{{Name: "id", Type: "int64"}, {Name: "updated_at", Type: "timestamp[us, UTC]"}}
	cfg.Incremental = &Incremental{Field: "updated_at", Param: "updated_since"}

	// run plays one engine run: resume, plan, read, and store the watermark after the (here trivial) commit.
	run := func() (key string, rows int64) {
		c := newConsumer(t, mem, cfg)
		name, ok := c.WatermarkName()
		if !ok {
			t.Fatal("an incremental consumer has no watermark name")
		}
		v, found, err := store.Watermark(t.Context(), "test", name)
		if err != nil {
			t.Fatal(err)
		}
		c.ResumeWatermark(v, found)
		parts, err := c.Partitions(t.Context(), testkit.RunInstance())
		if err != nil || len(parts) != 1 {
			t.Fatalf("Partitions: %v %v", parts, err)
		}
		err = c.Read(t.Context(), parts[0], func(b arrow.RecordBatch) error { rows += b.NumRows(); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if wm, ok := c.PartitionWatermark(parts[0]); ok {
			if err := store.SetWatermark(t.Context(), "test", name, wm); err != nil {
				t.Fatal(err)
			}
		}
		return parts[0].Key, rows
	}

	steps := []struct {
		key  string
		rows int64
		sent string
	}{
		{"since[]", 3, ""}, // no watermark yet and no initial: everything
		{"since[2026-11-22T09:30:00.123456Z]", 1, "2026-11-22T09:30:00.123456Z"}, // full precision, inclusive bound
	}
	for i, st := range steps {
		key, rows := run()
		if key != st.key || rows != st.rows || sent[len(sent)-1] != st.sent {
			t.Errorf("run %d: key %q, %d rows, sent %q; want %q, %d, %q", i, key, rows, sent[len(sent)-1], st.key, st.rows, st.sent)
		}
	}
	// A newer record moves the watermark on; a run that reads nothing newer leaves it.
	mu.Lock()
	updated = append(updated, "2026-11-22T11:00:00Z")
	mu.Unlock()
	if key, rows := run(); key != "since[2026-11-22T09:30:00.123456Z]" || rows != 2 {
		t.Errorf("key %q, %d rows", key, rows)
	}
	if key, _ := run(); key != "since[2026-11-22T11:00:00Z]" {
		t.Errorf("key %q after the newer record", key)
	}
}

func TestIncrementalConfig(t *testing.T) {
	for _, tt := range []struct {
		name, path string
		edit       func(c *Config)
	}{
		{"not a column", "incremental.field", func(c *Config) { c.Incremental = &Incremental{Field: "nope", Param: "since"} }},
		{"float column", "incremental.field", func(c *Config) { c.Incremental = &Incremental{Field: "score", Param: "since"} }},
		{"no param", "incremental.param", func(c *Config) { c.Incremental = &Incremental{Field: "id"} }},
		{"with windows", "incremental", func(c *Config) {
			c.Incremental = &Incremental{Field: "id", Param: "since"}
			c.Partition.Every = stage.Duration(time.Hour)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://api.example/v1")
			tt.edit(&cfg)
			_, err := New(stage.BuildContext{}, &cfg)
			fields, _ := stage.FieldErrors(err)
			if len(fields) != 1 || fields[0].Path != tt.path {
				t.Errorf("error %v, want one at %s", err, tt.path)
			}
		})
	}
}
