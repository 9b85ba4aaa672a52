// Package briefgc lets jetflow's brief commands end before any garbage collection.
//
// Every command runs every package initializer the binary links, and they allocate about 3 MiB: near the Go
// runtime's first collection goal of 4 MiB, so a collection started during the initializers. At the start it costs
// more than it frees, since it scans every package's global variables and so pages them in. This package's
// initializer raises GOGC for a brief command before most of the others run: it imports only what the runtime has
// initialized first, and packages are initialized in import path order among those whose imports are done.
// cmd/jetflow's TestStartupInitializersAllocateLittle checks that `jetflow validate` runs no collection.
package briefgc

import (
	"os"
	"runtime/debug"
	"slices"
)

// Percent is the GOGC of a brief command: the first collection waits for 16 MiB of heap instead of 4 MiB, and a
// brief command that reads more than that still collects, at 5× its live heap.
const Percent = 400

// Commands are the brief ones: they read, print and end, moving no data and serving nothing.
var Commands = []string{"validate", "plan", "state", "cdc", "check-freshness", "version"}

func init() {
	if percent, ok := For(os.Args[1:], os.Getenv); ok {
		debug.SetGCPercent(percent)
	}
}

// For is the GOGC to set for the command line args: Percent for a brief command, unless GOGC is set, which the Go
// runtime has read itself.
func For(args []string, getenv func(string) string) (int, bool) {
	if len(args) == 0 || getenv("GOGC") != "" || !slices.Contains(Commands, args[0]) {
		return 0, false
	}
	return Percent, true
}
