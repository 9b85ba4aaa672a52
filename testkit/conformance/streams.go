package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// ConformanceStream describes a stream consumer under test.
type ConformanceStream struct {
	// New returns the stream consumer under test, allocating every Arrow buffer from mem; close it with
	// t.Cleanup. A check may call it more than once (a restart); it asserts at its end that mem is empty.
	New func(t *testing.T, mem memory.Allocator) stage.StreamConsumer
	// KeyColumns identify a record; the resume check compares them across restarts. Without them it compares
	// whole records, which only suits a source without duplicates.
	KeyColumns []string
	// Records is how many records the source holds, for a source that runs dry (a topic): the resume check then
	// wants every one of them exactly once. 0 means the source is endless (a generator): then a fresh session
	// must read, among its first records, every record of the restarted sessions.
	Records int
	// Partitions is how many partitions the first session commits before it is stopped; 0 means 3. Configure the
	// consumer to roll partitions well before its records run out.
	Partitions int
	// Timeout bounds a session waiting for records; 0 means 60s.
	Timeout time.Duration
	// CancelWithin is how soon Stream must return after its context is cancelled; 0 means 30s (a stream may
	// first end and commit the partitions in flight).
	CancelWithin time.Duration
}

// Streams runs every stream consumer check as a subtest of t. Its handler acts as the engine does: it reads each
// partition once and commits the checkpoint read returns, which resume then hands back for the partition's lane.
func Streams(t *testing.T, cs ConformanceStream) {
	t.Helper()
	if cs.New == nil {
		t.Fatal("conformance.Streams: ConformanceStream needs New")
	}
	if cs.Partitions == 0 {
		cs.Partitions = 3
	}
	if cs.Timeout == 0 {
		cs.Timeout = 60 * time.Second
	}
	if cs.CancelWithin == 0 {
		cs.CancelWithin = 30 * time.Second
	}
	checks := []struct {
		name string
		run  func(t *testing.T, cs ConformanceStream, mem memory.Allocator)
	}{
		{"partitions roll", checkStreamRolls},
		{"resume neither loses nor repeats", checkStreamResume},
		{"cancellation stops cleanly", checkStreamCancel},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded()) // a use after release faults
			defer mem.AssertSize(t, 0)
			ch.run(t, cs, mem)
		})
	}
}

// committed is what sessions of a stream committed: per lane the newest checkpoint, and every record's key.
type committed struct {
	mu          sync.Mutex
	checkpoints map[string]string
	keys        map[string]string   // record key -> partition key that committed it
	order       map[string][]string // per lane, record keys in the order they were committed
	parts       []stage.Partition
	dups        []string
	active      int // handlers running
}

func newCommitted() *committed {
	return &committed{checkpoints: map[string]string{}, keys: map[string]string{}, order: map[string][]string{}}
}

func (c *committed) resume(_ context.Context, lane string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, ok := c.checkpoints[lane]
	return cp, ok, nil
}

func (c *committed) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.keys)
}

func (c *committed) partitions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.parts)
}

// session runs one Stream of a consumer New builds until stop says so (asked after every commit) or the timeout
// passes, then cancels it; it returns what Stream returned and how long it took to return after the cancel.
func (c *committed) session(t *testing.T, cs ConformanceStream, mem memory.Allocator, stop func() bool) (took time.Duration, err error) {
	t.Helper()
	sc := cs.New(t, mem)
	run := stage.RunInstance{Label: "stream", Start: testkit.RunInstance().Start}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stopped := make(chan struct{})
	var once sync.Once
	handle := func(hctx context.Context, p stage.Partition, read stage.StreamRead) error {
		c.mu.Lock()
		c.active++
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			c.active--
			c.mu.Unlock()
		}()
		var keys []string
		cp, err := read(hctx, func(b arrow.RecordBatch) error {
			cols, err := keyColumns(b, cs.KeyColumns)
			if err != nil {
				return err
			}
			for r := range int(b.NumRows()) {
				keys = append(keys, rowKey(cols, r))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := hctx.Err(); err != nil {
			return err // the engine commits nothing once the partition's context ended
		}
		if p.Lane == "" || p.Key == "" {
			return fmt.Errorf("conformance: stream partition %+v has no Lane or Key", p)
		}
		c.mu.Lock()
		for _, k := range keys {
			if other, dup := c.keys[k]; dup {
				c.dups = append(c.dups, fmt.Sprintf("record (%s) in partitions %q and %q", k, other, p.Key))
				continue
			}
			c.keys[k] = p.Key
			c.order[p.Lane] = append(c.order[p.Lane], k)
		}
		c.checkpoints[p.Lane] = cp
		c.parts = append(c.parts, p)
		c.mu.Unlock()
		if stop() {
			once.Do(func() { close(stopped) })
		}
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- sc.Stream(ctx, run, c.resume, handle) }()
	select {
	case <-stopped:
	case <-time.After(cs.Timeout):
	case err := <-done:
		if err == nil {
			err = errors.New("returned nil")
		}
		return 0, fmt.Errorf("Stream ended before it was stopped: %w", err)
	}
	cancel()
	t0 := time.Now()
	select {
	case err = <-done:
	case <-time.After(cs.CancelWithin):
		t.Fatalf("Stream did not return within %s of its context being cancelled", cs.CancelWithin)
	}
	return time.Since(t0), err
}

func rowKey(cols []arrow.Array, r int) string {
	var sb strings.Builder
	for k, col := range cols {
		if k > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(testkit.CellText(col, r))
	}
	return sb.String()
}

func checkStreamRolls(t *testing.T, cs ConformanceStream, mem memory.Allocator) {
	c := newCommitted()
	if _, err := c.session(t, cs, mem, func() bool { return c.partitions() >= cs.Partitions }); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if n := c.partitions(); n < cs.Partitions {
		t.Fatalf("%d partitions committed within %s, want %d: configure the consumer to roll sooner", n, cs.Timeout, cs.Partitions)
	}
	keys := map[string]bool{}
	perLane := map[string]int{}
	for _, p := range c.parts {
		if keys[p.Lane+"\x00"+p.Key] {
			t.Errorf("two partitions of lane %q share the key %q", p.Lane, p.Key)
		}
		keys[p.Lane+"\x00"+p.Key] = true
		perLane[p.Lane]++
	}
	rolled := false
	for _, n := range perLane {
		rolled = rolled || n > 1
	}
	if !rolled {
		t.Errorf("no lane cut a second partition (%v): partitions do not roll", perLane)
	}
	for lane, cp := range c.checkpoints {
		if cp == "" {
			t.Errorf("lane %q committed an empty checkpoint", lane)
		}
	}
	for _, d := range c.dups {
		t.Errorf("one session read a record twice: %s", d)
	}
}

// checkStreamResume stops a session after a few partitions and starts another from the committed checkpoints:
// together they hold every record once.
func checkStreamResume(t *testing.T, cs ConformanceStream, mem memory.Allocator) {
	c := newCommitted()
	if _, err := c.session(t, cs, mem, func() bool { return c.partitions() >= cs.Partitions }); err != nil {
		t.Fatalf("first session: %v", err)
	}
	first := c.count()
	if first == 0 {
		t.Fatal("the first session committed no record")
	}
	if cs.Records > 0 && first >= cs.Records {
		t.Fatalf("the first session committed all %d records; give the source more or roll sooner", first)
	}
	want := cs.Records
	if want == 0 {
		want = first * 2
	}
	if _, err := c.session(t, cs, mem, func() bool { return c.count() >= want }); err != nil {
		t.Fatalf("second session: %v", err)
	}
	for _, d := range c.dups {
		t.Errorf("a record was committed twice across a restart: %s", d)
	}
	if cs.Records > 0 {
		if n := c.count(); n != cs.Records {
			t.Errorf("the two sessions committed %d distinct records, want all %d", n, cs.Records)
		}
		return
	}
	// An endless source: a fresh session reads at least as many records, which must include every one read
	// across the restart (one skipped would leave a later record without a match). The fresh session may read
	// on past them before its cancel lands, so each lane is compared in order: a record the restart did not
	// read, followed in the fresh lane by one it did, was skipped.
	fresh := newCommitted()
	n := c.count()
	if _, err := fresh.session(t, cs, mem, func() bool { return fresh.count() >= n }); err != nil {
		t.Fatalf("fresh session: %v", err)
	}
	missing := 0
	for k := range c.keys {
		if _, ok := fresh.keys[k]; !ok {
			if missing < 5 {
				t.Errorf("record (%s) read across the restart is not among the first %d of a fresh session", k, fresh.count())
			}
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d records read across the restart were not in the fresh session: the restart skipped records", missing)
	}
	for lane, keys := range fresh.order {
		last := -1 // the last record of the lane the restart read
		for i, k := range keys {
			if _, ok := c.keys[k]; ok {
				last = i
			}
		}
		skipped := 0
		for _, k := range keys[:last+1] {
			if _, ok := c.keys[k]; !ok {
				if skipped < 5 {
					t.Errorf("lane %q: record (%s) was skipped across the restart: a fresh session reads it before later records the restart read", lane, k)
				}
				skipped++
			}
		}
		if skipped > 0 {
			t.Errorf("lane %q: %d records skipped across the restart", lane, skipped)
		}
	}
}

// checkStreamCancel cancels a stream while it loads: Stream returns nil in time, and no handler still runs.
func checkStreamCancel(t *testing.T, cs ConformanceStream, mem memory.Allocator) {
	c := newCommitted()
	took, err := c.session(t, cs, mem, func() bool { return true })
	if err != nil {
		t.Errorf("Stream returned %v after its context was cancelled, want nil", err)
	}
	if c.partitions() == 0 {
		t.Fatal("no partition committed before the cancel")
	}
	c.mu.Lock()
	active := c.active
	c.mu.Unlock()
	if active != 0 {
		t.Errorf("%d handlers still ran after Stream returned", active)
	}
	if took > cs.CancelWithin {
		t.Errorf("Stream took %s to return after the cancel", took)
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("Stream returned context.Canceled; a cancelled stream returns nil")
	}
}
