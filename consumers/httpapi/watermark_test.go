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

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state/sqlite"
	"github.com/jetflow-dev/jetflow/testkit"
)

// TestIncremental plays the engine's part of the proposed watermark hook against a real SQLite state store:
// resume from the stored watermark, read, store the partition's watermark after its commit, run again.
func TestIncremental(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
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

	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
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
		{"field with windows", "incremental.field", func(c *Config) {
			c.Incremental = &Incremental{Field: "id"}
			c.Partition.Every = stage.Duration(time.Hour)
		}},
		{"param with windows", "incremental.param", func(c *Config) {
			c.Incremental = &Incremental{Param: "since"}
			c.Partition.Every = stage.Duration(time.Hour)
		}},
		{"bad initial with windows", "incremental.initial", func(c *Config) {
			c.Incremental = &Incremental{Initial: "last tuesday"}
			c.Partition.Every = stage.Duration(time.Hour)
		}},
		{"with ids", "incremental", func(c *Config) {
			c.Incremental = &Incremental{Field: "id", Param: "since"}
			c.Partition.IDs = []string{"a", "b"}
		}},
		{"no field, no windows", "incremental.field", func(c *Config) { c.Incremental = &Incremental{Param: "since"} }},
		{"extra column clashes", "extra_column", func(c *Config) {
			c.SchemaEvolution, c.ExtraColumn = "extra_column", "id"
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

// TestWindows cuts [from, end of run) on the grid of the run instance's start, whatever from is.
func TestWindows(t *testing.T) {
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	run := stage.RunInstance{Start: day, End: day.Add(24 * time.Hour), Label: "2026-11-22"}
	ts := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	for _, tt := range []struct {
		name        string
		from        time.Time
		step        time.Duration
		n           int
		first, last string
		err         string
	}{
		{"the run instance", day, 6 * time.Hour, 4, "window[2026-11-22T00:00:00Z,2026-11-22T06:00:00Z)", "window[2026-11-22T18:00:00Z,2026-11-23T00:00:00Z)", ""},
		{"from mid-window", ts("2026-11-22T07:30:00.000001Z"), 6 * time.Hour, 3, "window[2026-11-22T07:30:00.000001Z,2026-11-22T12:00:00Z)", "window[2026-11-22T18:00:00Z,2026-11-23T00:00:00Z)", ""},
		{"backfill off the grid", ts("2026-11-20T22:15:00Z"), 12 * time.Hour, 5, "window[2026-11-20T22:15:00Z,2026-11-21T00:00:00Z)", "window[2026-11-22T12:00:00Z,2026-11-23T00:00:00Z)", ""},
		{"a step longer than the run", day, 36 * time.Hour, 1, "window[2026-11-22T00:00:00Z,2026-11-23T00:00:00Z)", "window[2026-11-22T00:00:00Z,2026-11-23T00:00:00Z)", ""},
		{"at the end", run.End, time.Hour, 0, "", "", ""},
		{"past the end", run.End.Add(time.Hour), time.Hour, 0, "", "", ""},
		{"too many", ts("2000-01-01T00:00:00Z"), time.Minute, 0, "", "", "over 100000; raise partition.every or move incremental.initial later"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := windows(run, tt.from, tt.step)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(parts) != tt.n {
				t.Fatalf("%d windows, %v; want %d", len(parts), err, tt.n)
			}
			for i := 1; i < len(parts); i++ {
				if parts[i].Lo != parts[i-1].Hi {
					t.Errorf("window %d starts at %v, not where %d ends (%v)", i, parts[i].Lo, i-1, parts[i-1].Hi)
				}
			}
			if tt.n > 0 && (parts[0].Key != tt.first || parts[tt.n-1].Key != tt.last) {
				t.Errorf("windows %s … %s, want %s … %s", parts[0].Key, parts[tt.n-1].Key, tt.first, tt.last)
			}
		})
	}
}
