// Package inittrace reads what the Go runtime prints about a program's start under GODEBUG=inittrace=1,gctrace=1:
// each package initializer with what it allocated, and each garbage collection. cmd/jetflow's start-up test and
// bench/startup read jetflow's start with it.
package inittrace

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Init is one package initializer the runtime ran.
type Init struct {
	Package string
	Bytes   int64 // allocated by the initializer
}

// Trace is what a program's run printed about its start.
type Trace struct {
	Inits       []Init
	Collections []string // the runtime's line for each garbage collection
}

// Env is environ set to make a Go program print its trace: GODEBUG set for it, and GOGC left out, so that the
// program's own setting holds.
func Env(environ []string) []string {
	env := slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		return strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GODEBUG=")
	})
	return append(env, "GODEBUG=inittrace=1,gctrace=1")
}

var (
	initLine = regexp.MustCompile(`(?m)^init (\S+) @[0-9.]+ ms, [0-9.]+ ms clock, ([0-9]+) bytes, [0-9]+ allocs$`)
	// The runtime prints a collection's line in pieces, and a program that exits meanwhile leaves only "gc ".
	gcLine = regexp.MustCompile(`(?m)^gc( .*)?$`)
)

// Parse reads the trace from a program's output (its standard error, or both streams).
func Parse(out []byte) Trace {
	var t Trace
	for _, m := range initLine.FindAllSubmatch(out, -1) {
		n, _ := strconv.ParseInt(string(m[2]), 10, 64) // the pattern admits digits only
		t.Inits = append(t.Inits, Init{Package: string(m[1]), Bytes: n})
	}
	for _, m := range gcLine.FindAll(out, -1) {
		t.Collections = append(t.Collections, string(m))
	}
	return t
}

// Allocated is what all the initializers allocated.
func (t Trace) Allocated() int64 {
	var n int64
	for _, i := range t.Inits {
		n += i.Bytes
	}
	return n
}
