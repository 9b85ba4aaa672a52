package sqlsource

import (
	"context"
	"errors"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/cut"
	"github.com/jetflow-dev/jetflow/stage"
)

var day = stage.RunInstance{Start: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), Label: "2026-11-22"}

func minMax(lo, hi int64, ok bool) func(context.Context) (int64, int64, bool, error) {
	return func(context.Context) (int64, int64, bool, error) { return lo, hi, ok, nil }
}

// The keys feed the partition ids of committed state: these are pinned, not derived.
func TestPlanPartitions(t *testing.T) {
	tests := []struct {
		name    string
		plan    Plan
		run     stage.RunInstance
		keys    []string
		wantErr string
	}{
		{"no column", Plan{Source: "x"}, day, []string{"all"}, ""},
		{"integer count", Plan{Column: "id", Kind: Int, Count: 3, MinMax: minMax(1, 10, true)}, day,
			[]string{"id[1,5)", "id[5,8)", "id[8,11)"}, ""},
		{"integer step aligned on multiples", Plan{Column: "id", Kind: Int, Step: 4, MinMax: minMax(1, 10, true)}, day,
			[]string{"id[0,4)", "id[4,8)", "id[8,12)"}, ""},
		{"empty table", Plan{Column: "id", Kind: Int, Count: 3, MinMax: minMax(0, 0, false)}, day, nil, ""},
		{"time windows", Plan{Column: "ts", Kind: Time, Every: 8 * time.Hour}, day,
			[]string{"ts[2026-11-22T00:00:00Z,2026-11-22T08:00:00Z)", "ts[2026-11-22T08:00:00Z,2026-11-22T16:00:00Z)",
				"ts[2026-11-22T16:00:00Z,2026-11-23T00:00:00Z)"}, ""},
		{"count windows truncated to the precision", Plan{Column: "ts", Kind: Time, Count: 7, Precision: time.Second}, day,
			[]string{"ts[2026-11-22T00:00:00Z,2026-11-22T03:25:42Z)", "ts[2026-11-22T03:25:42Z,2026-11-22T06:51:24Z)",
				"ts[2026-11-22T06:51:24Z,2026-11-22T10:17:06Z)", "ts[2026-11-22T10:17:06Z,2026-11-22T13:42:48Z)",
				"ts[2026-11-22T13:42:48Z,2026-11-22T17:08:30Z)", "ts[2026-11-22T17:08:30Z,2026-11-22T20:34:12Z)",
				"ts[2026-11-22T20:34:12Z,2026-11-23T00:00:00Z)"}, ""},
		{"explicit ranges as given", Plan{Column: "id", Kind: Int, Ranges: [][2]any{{int64(-5), int64(0)}, {int64(7), int64(9)}}}, day,
			[]string{"id[-5,0)", "id[7,9)"}, ""},
		{"date needs whole days", Plan{Column: "d", Kind: Date, Type: "a date", Every: time.Hour}, day, nil,
			`column "d" is a date: windows must be whole days, not 1h0m0s`},
		{"step on a time", Plan{Column: "ts", Kind: Time, Type: "DateTime", Step: 5}, day, nil,
			`applies to integer columns; "ts" is DateTime: use every or count`},
		{"every on an integer", Plan{Column: "id", Kind: Int, Type: "an integer", Every: time.Hour}, day, nil,
			`applies to time columns; "id" is an integer: use step or count`},
		{"time without a run end", Plan{Source: "src", Column: "ts", Kind: Time, Every: time.Hour}, stage.RunInstance{Label: "x"}, nil,
			`src: partition.column "ts" is a time: the run instance "x" needs a start and an end`},
		{"integer maximum", Plan{Column: "id", Kind: Int, Count: 2, MinMax: minMax(0, 1<<63-1, true)}, day, nil, cut.ErrMaxInt64.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := tt.plan.Partitions(t.Context(), tt.run)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != len(tt.keys) {
				t.Fatalf("%d partitions, want %d: %v", len(parts), len(tt.keys), parts)
			}
			for i, p := range parts {
				if p.Key != tt.keys[i] || p.Index != i || p.Run != tt.run {
					t.Errorf("partition %d = %q (index %d), want %q", i, p.Key, p.Index, tt.keys[i])
				}
			}
		})
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name, query, want string
		used              bool
		wantErr           string
	}{
		{"both bounds", "SELECT * FROM t WHERE id >= {{ .Partition.Lo }} AND id < {{ .Partition.Hi }}", "SELECT * FROM t WHERE id >= L AND id < H", true, ""},
		{"no bounds", "SELECT 1", "SELECT 1", false, ""},
		{"unknown field", "SELECT {{ .Partition.Mid }}", "", false, "the query sees .Partition.Lo and .Partition.Hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := template.Must(template.New("query").Option("missingkey=error").Parse(tt.query))
			used := false
			got, err := Render(tmpl, func() string { used = true; return "L" }, func() string { used = true; return "H" })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want || used != tt.used {
				t.Fatalf("Render = %q, used %v, %v; want %q, used %v", got, used, err, tt.want, tt.used)
			}
		})
	}
}

func TestCheckBoundsUsed(t *testing.T) {
	tests := []struct {
		used    bool
		column  string
		wantKey string // "" for no error
	}{
		{true, "id", ""},
		{false, "", ""},
		{true, "", "partition.column"},
		{false, "id", "query"},
	}
	for _, tt := range tests {
		err := CheckBoundsUsed(tt.used, tt.column)
		var fe *stage.FieldError
		switch {
		case tt.wantKey == "" && err != nil:
			t.Errorf("used %v, column %q: %v", tt.used, tt.column, err)
		case tt.wantKey != "" && (!errors.As(err, &fe) || fe.Path != tt.wantKey):
			t.Errorf("used %v, column %q: err = %v, want one at %s", tt.used, tt.column, err, tt.wantKey)
		}
	}
}

// Emit releases what it hands over, whether out keeps the batch or fails.
func TestEmit(t *testing.T) {
	boom := errors.New("boom")
	for _, outErr := range []error{nil, boom} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
		b := array.NewInt64Builder(mem)
		b.AppendValues([]int64{1, 2, 3}, nil)
		arrs := []arrow.Array{b.NewArray()}
		b.Release()
		var kept arrow.RecordBatch
		err := Emit(schema, arrs, 3, func(rec arrow.RecordBatch) error {
			if outErr == nil {
				rec.Retain()
				kept = rec
			}
			return outErr
		})
		if !errors.Is(err, outErr) || (outErr == nil) != (err == nil) {
			t.Fatalf("err = %v, want %v", err, outErr)
		}
		if arrs[0] != nil {
			t.Fatal("the handed-over array is still in arrs")
		}
		if kept != nil {
			if kept.NumRows() != 3 || kept.Column(0).(*array.Int64).Value(2) != 3 {
				t.Fatalf("batch %v", kept)
			}
			kept.Release()
		}
		mem.AssertSize(t, 0)
	}
}

func TestStopped(t *testing.T) {
	boom := errors.New("receiver failed")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		err    error
		want   string // "" when the source's own failure
		wantIs error
	}{
		{"receiver's error as is", cancelled, &OutError{boom}, "receiver failed", boom},
		{"cancelled", cancelled, errors.New("conn closed"), "src: partition k stopped after 7 rows: context canceled", context.Canceled},
		{"source failure", context.Background(), errors.New("conn reset"), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, ok := Stopped(tt.ctx, "src", "k", 7, tt.err)
			if ok != (tt.want != "") {
				t.Fatalf("ok = %v (%v)", ok, err)
			}
			if ok && (err.Error() != tt.want || !errors.Is(err, tt.wantIs)) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if tt.wantIs == boom && err != boom {
				t.Fatalf("the receiver's error came back as %T, not as is", err)
			}
		})
	}
}
