package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/cdctest"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestCDCReadAheadBound holds the first stream partition in its loader (a blocked write, or a blocked commit)
// while the slot holds many times the read-ahead's bound, and checks what the reader held meanwhile and after:
// no more row data handed over and not taken than the bound, and no more partitions read and not committed than
// the one committing and one ahead. Once the loader goes on, every change arrives.
func TestCDCReadAheadBound(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	const bound = 256 << 10
	tests := []struct {
		name, roll string
		atCommit   bool // the loader blocks at the partition's commit, after taking its batches
	}{
		// One partition for an hour: the reader fills it until the bytes bound stops it.
		{name: "bytes", roll: "{interval: 1h}"},
		// Partitions of 25 rows (one transaction), well under the bound: the reader reads one whole partition ahead, then waits.
		{name: "partitions", roll: "{rows: 25}", atCommit: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dsn := srv.CreateDatabase(t)
			const rows, updates = 1000, 4
			cdctest.CreateItems(t, dsn, rows)
			text := strings.Replace(cdctest.PipelineWithSlot("ahead_"+string(rune('a'+i)), "${WH}", "1s", "  batch_rows: 16\n"),
				"roll: {interval: 1s}", "roll: "+tt.roll, 1)
			p := parsePipeline(t, "items.yaml", text, map[string]string{"PG_DSN": dsn, "WH": t.TempDir()})
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			built, err := p.Build(stage.BuildContext{Alloc: mem})
			if err != nil {
				t.Fatal(err)
			}
			s := built.Source.(*CDC)
			defer s.Close()
			s.ahead.maxBytes = bound

			var changes atomic.Int64
			loaded, gate := make(chan struct{}), make(chan struct{})
			first := true
			handle := func(ctx context.Context, p stage.Partition, read stage.StreamRead) error {
				snapshot := strings.Contains(p.Key, "/snapshot@")
				block := !snapshot && first
				if !snapshot {
					first = false
				}
				_, err := read(ctx, func(rec arrow.RecordBatch) error {
					if block && !tt.atCommit {
						<-gate
					}
					if !snapshot {
						changes.Add(rec.NumRows())
					}
					return nil
				})
				if err != nil {
					return err
				}
				if snapshot && p.Lane != "" {
					close(loaded)
				}
				if block && tt.atCommit {
					<-gate
				}
				return nil
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				done <- s.Stream(ctx, pipelines.StreamRun(), func(context.Context, string) (string, bool, error) { return "", false, nil }, handle)
			}()
			select {
			case <-loaded:
			case err := <-done:
				t.Fatalf("the stream ended before its initial load: %v", err)
			}
			// Each change carries its row whole (REPLICA IDENTITY FULL), about 3 KB: the slot holds 12 MB, in
			// transactions of 25 rows.
			var stmts []string
			for k := range updates * 40 {
				stmts = append(stmts, fmt.Sprintf(`UPDATE items SET n = n + 1 WHERE id %% 40 = %d`, k%40))
			}
			cdctest.Exec(t, dsn, stmts...)
			waitFor(t, "the reader to wait at a bound", func() bool { return s.ahead.waits.Load() > 0 })
			close(gate)
			waitFor(t, "every change", func() bool { return changes.Load() == rows*updates })
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("stream: %v", err)
			}
			t.Logf("held at most %d bytes, %d partitions; %d waits", s.ahead.bytes.Load(), s.ahead.parts.Load(), s.ahead.waits.Load())
			if got := s.ahead.bytes.Load(); got > bound || (!tt.atCommit && got < bound/2) {
				t.Errorf("the read-ahead held %d bytes of row data at most, want at most its bound %d (and, filling a partition, more than half of it)", got, bound)
			}
			if got := s.ahead.parts.Load(); got > 2 || (tt.atCommit && got < 2) {
				t.Errorf("the read-ahead held %d partitions read and not committed at most, want 2: the one committing and one ahead", got)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
