package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// defaultOwner names this worker in leases: host and process id, so that a worker on the same host can tell
// whether the owner of a lease is still alive.
func defaultOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// ownerGone tells whether owner ("host:pid") is a process of this host that no longer exists. Owners on other
// hosts, or named otherwise, are never judged gone: their leases expire instead.
func ownerGone(owner string) bool {
	host, pidText, ok := strings.Cut(owner, ":")
	me, _ := os.Hostname()
	if !ok || host != me {
		return false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

type workerKey struct{}

// withWorker marks ctx as the context of the engine's worker n (1-based) of this process: claims made under it
// record n, so a timeline of the run can draw each worker's partitions on its own row.
func withWorker(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, workerKey{}, n)
}

// workerOf is the worker number withWorker set, 0 outside a worker.
func workerOf(ctx context.Context) int {
	n, _ := ctx.Value(workerKey{}).(int)
	return n
}
