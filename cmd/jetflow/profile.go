package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// profiler writes CPU and heap profiles of a run, for `go tool pprof`. The heap profile is the one taken when the
// in-use heap was highest (checked twice a second): what a run holds at its peak is what explains its RSS, and a
// profile taken at the end, after every batch is released, would show nothing.
type profiler struct {
	cpuFile *os.File
	memPath string
	stop    chan struct{}
	done    sync.WaitGroup
	err     error
}

func startProfiler(cpuPath, memPath string) (*profiler, error) {
	p := &profiler{memPath: memPath, stop: make(chan struct{})}
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err != nil {
			return nil, fmt.Errorf("--cpu-profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpu-profile: %w", err)
		}
		p.cpuFile = f
	}
	if memPath != "" {
		p.done.Add(1)
		go p.watchHeap()
	}
	return p, nil
}

func (p *profiler) watchHeap() {
	defer p.done.Done()
	var peak uint64
	written := false
	// Checked often enough to catch the peak of a run of a second; ReadMemStats stops the world for microseconds.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			if !written { // a run shorter than a tick: its profile is the one at its end
				p.err = p.writeHeap()
			}
			return
		case <-tick.C:
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak {
			peak = ms.HeapInuse
			if err := p.writeHeap(); err != nil {
				p.err = err
				return
			}
			written = true
		}
	}
}

func (p *profiler) writeHeap() error {
	tmp := p.memPath + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("--mem-profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("--mem-profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--mem-profile: %w", err)
	}
	return os.Rename(tmp, p.memPath)
}

// finish stops profiling and reports the first error met.
func (p *profiler) finish() error {
	if p.cpuFile != nil {
		pprof.StopCPUProfile()
		if err := p.cpuFile.Close(); err != nil && p.err == nil {
			p.err = fmt.Errorf("--cpu-profile: %w", err)
		}
	}
	close(p.stop)
	p.done.Wait()
	return p.err
}
