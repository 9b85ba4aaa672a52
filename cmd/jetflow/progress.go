package main

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/engine"
)

// startProgress shows a run's progress: a live line on a terminal, a log line every 10 seconds otherwise.
// It returns a function that stops the display.
func startProgress(mode string, w io.Writer, tr *engine.Tracker, log *slog.Logger) func() {
	if mode == "auto" {
		mode = "log"
		if isTerminal(w) {
			mode = "live"
		}
	}
	every := 10 * time.Second
	switch mode {
	case "live":
		every = 250 * time.Millisecond
	case "log":
	default:
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if mode == "live" {
					fmt.Fprintf(w, "\r%s\033[K\n", progressLine(tr))
				}
				return
			case <-t.C:
				if mode == "live" {
					fmt.Fprintf(w, "\r%s\033[K", progressLine(tr))
				} else {
					s := snapshot(tr)
					log.Info("progress", "partitions_done", s.done, "partitions_total", s.total, "in_flight", s.inFlight,
						"rows", s.rows, "bytes", s.bytes, "rows_per_s", int64(s.rate), "eta", s.eta)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

type progressSnapshot struct {
	done, total, inFlight, rows, bytes int64
	rate                               float64
	eta                                string
}

func snapshot(tr *engine.Tracker) progressSnapshot {
	s := progressSnapshot{
		done:     tr.Committed.Load() + tr.Skipped.Load() + tr.Failed.Load(),
		total:    tr.Total.Load(),
		inFlight: tr.InFlight.Load(),
		rows:     tr.Rows.Load(),
		bytes:    tr.Bytes.Load(),
	}
	elapsed := time.Since(tr.Started).Seconds()
	if elapsed > 0 {
		s.rate = float64(s.rows) / elapsed
	}
	s.eta = "unknown"
	loaded := tr.Committed.Load()
	if left := s.total - s.done; loaded > 0 && left >= 0 && s.total > 0 {
		// Wall time per committed partition already reflects the workers running side by side.
		perPartition := time.Duration(elapsed / float64(loaded) * float64(time.Second))
		s.eta = (perPartition * time.Duration(left)).Round(time.Second).String()
	}
	return s
}

func progressLine(tr *engine.Tracker) string {
	s := snapshot(tr)
	return fmt.Sprintf("partitions %d/%d (%d in flight)  rows %s  %s  %s rows/s  ETA %s",
		s.done, s.total, s.inFlight, humanCount(float64(s.rows)), humanBytes(s.bytes), humanCount(s.rate), s.eta)
}
