package generate

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
)

var streamRun = stage.RunInstance{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Label: "stream"}

func newStream(t testing.TB, mem memory.Allocator, cfg Config) *Stream {
	t.Helper()
	src, err := buildGo(stage.BuildContext{Pipeline: "test", Alloc: mem}, &cfg, rollAsWritten...)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	s, ok := src.(*Stream)
	if !ok {
		t.Fatalf("build returned %T, want *Stream", src)
	}
	if _, ok := src.(stage.Consumer); ok {
		t.Fatal("a stream generator must not offer bounded Read")
	}
	return s
}

func resumeAt(cp string) stage.ResumeFunc {
	return func(context.Context, string) (string, bool, error) { return cp, cp != "", nil }
}

// streamed is what a test handler saw of one partition.
type streamed struct {
	p          stage.Partition
	checkpoint string
	batches    []int64
	cols       []arrow.Array // concatenated, owned
}

func (s *streamed) rows() int64 {
	n := int64(0)
	for _, b := range s.batches {
		n += b
	}
	return n
}

// collect returns a handler that reads each partition whole and cancels ctx after stop partitions.
func collect(t *testing.T, mem memory.Allocator, stop int, cancel context.CancelFunc, got *[]*streamed) stage.PartitionHandler {
	return func(ctx context.Context, p stage.Partition, read stage.StreamRead) error {
		s := &streamed{p: p}
		var chunks [][]arrow.Array
		cp, err := read(ctx, func(rec arrow.RecordBatch) error {
			s.batches = append(s.batches, rec.NumRows())
			if chunks == nil {
				chunks = make([][]arrow.Array, rec.NumCols())
			}
			for i, c := range rec.Columns() {
				c.Retain()
				chunks[i] = append(chunks[i], c)
			}
			return nil
		})
		for _, cs := range chunks {
			if err == nil {
				a, cerr := array.Concatenate(cs, mem)
				if cerr != nil {
					t.Errorf("concatenate: %v", cerr)
				} else {
					s.cols = append(s.cols, a)
				}
			}
			for _, c := range cs {
				c.Release()
			}
		}
		if err != nil {
			return err
		}
		s.checkpoint = cp
		*got = append(*got, s)
		if len(*got) == stop {
			cancel()
		}
		return nil
	}
}

func releaseStreamed(parts []*streamed) {
	for _, s := range parts {
		release(s.cols)
	}
}

func TestStreamRollByRowsAndResume(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	cols := []Column{
		{Name: "id", Type: "int64", Sequence: true},
		{Name: "name", Type: "string", NullRate: 0.2},
		{Name: "at", Type: "timestamp[us, UTC]"},
		{Name: "tags", Type: "list<string>"},
	}
	cfg := Config{Seed: 5, BatchRows: 30, Columns: cols, Unbounded: &StreamConfig{Roll: RollConfig{Rows: 100}}}
	s := newStream(t, mem, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	var first []*streamed
	if err := s.Stream(ctx, streamRun, resumeAt(""), collect(t, mem, 3, cancel, &first)); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	defer releaseStreamed(first)
	if len(first) != 3 {
		t.Fatalf("%d partitions before cancellation, want 3", len(first))
	}
	for i, p := range first {
		lo := int64(i * 100)
		if p.p.Key != "rows@"+strconv.FormatInt(lo, 10) || p.p.Lo != lo || p.p.Lane != "0" || p.p.Index != i || p.p.Run != streamRun {
			t.Errorf("partition %d: %+v", i, p.p)
		}
		if p.checkpoint != strconv.FormatInt(lo+100, 10) {
			t.Errorf("partition %d checkpoint %q, want %d", i, p.checkpoint, lo+100)
		}
		if got := fmtInts(p.batches); got != "[30 30 30 10]" {
			t.Errorf("partition %d batches %s, want [30 30 30 10] (roll.rows is exact)", i, got)
		}
	}

	// A restart from the checkpoint of the second partition regenerates the third exactly.
	ctx2, cancel2 := context.WithCancel(context.Background())
	var again []*streamed
	if err := newStream(t, mem, cfg).Stream(ctx2, streamRun, resumeAt(first[1].checkpoint), collect(t, mem, 1, cancel2, &again)); err != nil {
		t.Fatalf("Stream after resume: %v", err)
	}
	defer releaseStreamed(again)
	if len(again) != 1 || again[0].p.Key != "rows@200" || again[0].p.Index != 0 {
		t.Fatalf("resumed stream started with %+v, want rows@200", again[0].p)
	}
	for i := range again[0].cols {
		if !array.Equal(again[0].cols[i], first[2].cols[i]) {
			t.Errorf("column %s after resume differs from the first run", cols[i].Name)
		}
	}

	// The stream's rows are the bounded generator's rows of the same run label.
	bcfg := cfg
	bcfg.Unbounded, bcfg.Rows, bcfg.Partition = nil, 300, PartitionConfig{Rows: 100}
	bounded, _ := readAll(t, mem, newGen(t, mem, bcfg), streamRun)
	defer release(bounded)
	for i := range bounded {
		tail := array.NewSlice(bounded[i], 200, 300)
		if !array.Equal(tail, first[2].cols[i]) {
			t.Errorf("column %s: stream rows 200..300 differ from bounded rows", cols[i].Name)
		}
		tail.Release()
	}
}

func fmtInts(v []int64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatInt(x, 10)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestStreamRollByBytes(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	// 10 int64 rows without nulls are 80 buffer bytes: the partition ends after the batch that reaches 200.
	s := newStream(t, mem, Config{BatchRows: 10, Columns: []Column{{Name: "x", Type: "int64"}},
		Unbounded: &StreamConfig{Roll: RollConfig{Bytes: 200}}})
	ctx, cancel := context.WithCancel(context.Background())
	var got []*streamed
	if err := s.Stream(ctx, streamRun, resumeAt("1000"), collect(t, mem, 2, cancel, &got)); err != nil {
		t.Fatal(err)
	}
	defer releaseStreamed(got)
	for i, p := range got {
		if p.rows() != 30 || p.p.Key != "rows@"+strconv.Itoa(1000+30*i) {
			t.Errorf("partition %s has %d rows, want 30", p.p.Key, p.rows())
		}
	}
}

func TestStreamRollByIntervalWithRate(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	const rate = 2000
	s := newStream(t, mem, Config{BatchRows: 1000, Columns: []Column{{Name: "x", Type: "int32"}},
		Unbounded: &StreamConfig{Rate: rate, Roll: RollConfig{Interval: stage.Duration(150 * time.Millisecond)}}})
	ctx, cancel := context.WithCancel(context.Background())
	var got []*streamed
	start := time.Now()
	if err := s.Stream(ctx, streamRun, resumeAt(""), collect(t, mem, 4, cancel, &got)); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	defer releaseStreamed(got)
	total, next := int64(0), int64(0)
	for _, p := range got {
		if p.p.Lo != next {
			t.Errorf("partition %s starts at %v, want %d", p.p.Key, p.p.Lo, next)
		}
		// 150ms at 2000 rows/s is 300 rows; batches are 200 rows (a tenth of a second).
		if p.rows() < 100 || p.rows() > 600 {
			t.Errorf("partition %s has %d rows, want about 300", p.p.Key, p.rows())
		}
		for _, b := range p.batches {
			if b > rate/10 {
				t.Errorf("batch of %d rows with rate %d, want at most %d", b, rate, rate/10)
			}
		}
		next = p.p.Lo.(int64) + p.rows()
		total += p.rows()
	}
	if max := float64(rate)*elapsed.Seconds() + rate/10; float64(total) > max {
		t.Errorf("%d rows in %v exceed the rate of %d rows/s", total, elapsed, rate)
	}
	if elapsed < 4*150*time.Millisecond*8/10 {
		t.Errorf("4 partitions took %v, want about 600ms", elapsed)
	}
}

func TestStreamStopsAndFails(t *testing.T) {
	cfg := Config{BatchRows: 10, Columns: []Column{{Name: "x", Type: "int64"}}, Unbounded: &StreamConfig{Roll: RollConfig{Rows: 100}}}
	boom := errors.New("commit failed")
	tests := []struct {
		name    string
		resume  stage.ResumeFunc
		handle  func(cancel context.CancelFunc) stage.PartitionHandler
		wantErr string // "" when Stream returns nil
	}{
		{
			name: "handler error is returned as is",
			handle: func(context.CancelFunc) stage.PartitionHandler {
				return func(ctx context.Context, p stage.Partition, read stage.StreamRead) error {
					_, _ = read(ctx, func(arrow.RecordBatch) error { return nil })
					return boom
				}
			},
			wantErr: boom.Error(),
		},
		{
			name: "cancel mid-partition returns nil",
			handle: func(cancel context.CancelFunc) stage.PartitionHandler {
				return func(ctx context.Context, p stage.Partition, read stage.StreamRead) error {
					n := 0
					_, err := read(ctx, func(arrow.RecordBatch) error {
						if n++; n == 2 {
							cancel()
						}
						return nil
					})
					if !errors.Is(err, context.Canceled) {
						t.Errorf("read after cancel = %v, want context.Canceled", err)
					}
					return err // the handler aborts the partition
				}
			},
		},
		{
			name: "read twice",
			handle: func(context.CancelFunc) stage.PartitionHandler {
				return func(ctx context.Context, p stage.Partition, read stage.StreamRead) error {
					if _, err := read(ctx, func(arrow.RecordBatch) error { return nil }); err != nil {
						return err
					}
					_, err := read(ctx, func(arrow.RecordBatch) error { return nil })
					return err
				}
			},
			wantErr: "called twice",
		},
		{
			name: "handler that never reads",
			handle: func(context.CancelFunc) stage.PartitionHandler {
				return func(context.Context, stage.Partition, stage.StreamRead) error { return nil }
			},
			wantErr: "returned without reading it",
		},
		{
			name:    "foreign checkpoint",
			resume:  resumeAt("orders/3@12"),
			handle:  func(context.CancelFunc) stage.PartitionHandler { return nil },
			wantErr: `"orders/3@12", not a row number`,
		},
		{
			name: "resume error",
			resume: func(context.Context, string) (string, bool, error) {
				return "", false, errors.New("state store down")
			},
			handle:  func(context.CancelFunc) stage.PartitionHandler { return nil },
			wantErr: "state store down",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resume := tt.resume
			if resume == nil {
				resume = resumeAt("")
			}
			err := newStream(t, mem, cfg).Stream(ctx, streamRun, resume, tt.handle(cancel))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Stream = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Stream = %v, want an error containing %q", err, tt.wantErr)
			}
			if tt.wantErr == boom.Error() && err != boom {
				t.Errorf("handler error wrapped: %v", err)
			}
		})
	}
}
