// Package failpoint lets crash-safety tests stop a jetflow process at a precise point of a commit protocol.
// A subprocess started with JETFLOW_FAILPOINTS="name=action,..." acts at the named points:
//
//	kill        SIGKILL itself (no deferred function runs, as with an OOM kill or a node loss)
//	error       return an error every time
//	error-once  return an error the first time only (a transient failure, for the retry path)
//	sleep:DUR   pause, e.g. sleep:200ms (widens a window for an external kill)
//
// Without the variable every Inject is a map lookup on an empty map. Production code never sets it.
package failpoint

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// EnvVar is the environment variable failpoints are read from.
const EnvVar = "JETFLOW_FAILPOINTS"

type point struct {
	action string
	hits   atomic.Int64
}

var points = sync.OnceValue(func() map[string]*point {
	m := map[string]*point{}
	for _, item := range strings.Split(os.Getenv(EnvVar), ",") {
		name, action, ok := strings.Cut(strings.TrimSpace(item), "=")
		if ok && name != "" {
			m[name] = &point{action: action}
		}
	}
	return m
})

// Inject acts as the environment says at the point name; it returns an error only for error actions.
func Inject(name string) error {
	p, ok := points()[name]
	if !ok {
		return nil
	}
	n := p.hits.Add(1)
	switch {
	case p.action == "kill":
		fmt.Fprintf(os.Stderr, "failpoint %s: SIGKILL\n", name)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	case p.action == "error":
		return fmt.Errorf("failpoint %s: injected failure", name)
	case p.action == "error-once":
		if n == 1 {
			return fmt.Errorf("failpoint %s: injected failure (first time only)", name)
		}
	case strings.HasPrefix(p.action, "sleep:"):
		if d, err := time.ParseDuration(strings.TrimPrefix(p.action, "sleep:")); err == nil {
			time.Sleep(d)
		}
	}
	return nil
}
