package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// runPeakRSS runs cmd and returns its peak resident set size in KiB, read from the kernel's high-water mark
// (VmHWM in /proc/PID/status) while it runs. The rusage Maxrss of a child is no good here: Go starts children
// with vfork semantics, and the kernel carries the parent's high-water mark into the child's, so a bench process
// that has grown would inflate every child it measures.
func runPeakRSS(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if kb, ok := vmHWM(cmd.Process.Pid); ok && kb > peak {
			peak = kb
		}
		select {
		case err := <-done:
			return peak, err
		case <-tick.C:
		}
	}
}

func vmHWM(pid int) (int64, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}
