package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestHTTPAPIKilledMidPartitionThenRerun kills `jetflow run` while a partition of an API pipeline is half-read
// (its first pages already written as batches), then runs again: the half-read window is read again from its
// first page and every record is in the output exactly once.
func TestHTTPAPIKilledMidPartitionThenRerun(t *testing.T) {
	const perWindow, pageSize = 250, 50
	var (
		mu      sync.Mutex
		stalled = make(chan struct{}) // closed when the 12:00 window's 3rd page is asked for the first time
		release = make(chan struct{}) // closed after the kill, so the stalled handler returns
		stalls  int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		since, err := time.Parse(time.RFC3339, q.Get("since"))
		page, _ := strconv.Atoi(q.Get("page"))
		if err != nil || page < 1 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if since.Hour() == 12 && page == 3 {
			mu.Lock()
			stalls++
			first := stalls == 1
			mu.Unlock()
			if first {
				close(stalled)
				<-release
				return
			}
		}
		base := since.Hour() / 6 * perWindow
		var sb strings.Builder
		sb.WriteString(`{"items": [`)
		for i := (page - 1) * pageSize; i < min(page*pageSize, perWindow); i++ {
			if i > (page-1)*pageSize {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"id": %d, "label": "record %d"}`, base+i, base+i)
		}
		sb.WriteString(`]}`)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, sb.String())
	}))
	defer srv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	dir := t.TempDir()
	writeFile(t, dir, "api.yaml", `name: api_kill
retries: { attempts: 2, backoff: 10ms }
consumer:
  type: httpapi
  url: ${API}/items
  records: items
  partition: { every: 6h, since_param: since, until_param: until }
  pagination: { type: page, limit: 50 }
  batch_rows: 50              # a batch per page, so the loader has part of the window when the kill comes
  schema:
    - { name: id, type: int64 }
    - { name: label, type: string }
loaders:
  - type: parquet
    path: out/api
`)
	env := []string{"API=" + srv.URL}
	cmd := command(dir, env, "run", "api.yaml", "--run", "2026-11-22", "--workers", "2")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stalled:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the 12:00 window's third page was never asked for:\n%s", out.String())
	}
	cmd.Process.Signal(syscall.SIGKILL)
	r := finish(t, cmd, cmd.Wait(), out.String(), "")
	close(release)
	if !r.killed {
		t.Fatalf("jetflow was not killed (exit %d):\n%s", r.code, out.String())
	}

	r = jetflow(t, dir, env, "run", "api.yaml", "--run", "2026-11-22", "--workers", "2").must(t, exitOK)
	assertExactlyOnce(t, filepath.Join(dir, "out", "api"), 4*perWindow)
	mu.Lock()
	defer mu.Unlock()
	if stalls != 2 {
		t.Errorf("the 12:00 window's third page was asked for %d times, want 2 (once before the kill, once on the re-run)", stalls)
	}
}
