package inittrace

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// A real program's trace: a Go program whose initializer allocates, and which collects once in main.
func TestParseRealProgram(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := `package main

import "runtime"

var table = make([]byte, 1<<20)

func main() {
	table[0] = 1
	runtime.GC()
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module traced\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "traced")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = Env(append(os.Environ(), "GOGC=50", "GODEBUG=madvdontneed=1"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	tr := Parse(out)
	i := slices.IndexFunc(tr.Inits, func(i Init) bool { return i.Package == "main" })
	if i < 0 || tr.Inits[i].Bytes < 1<<20 {
		t.Errorf("main's initializer: want at least 1 MiB allocated, got %+v\n%s", tr.Inits, out)
	}
	if tr.Allocated() < 1<<20 {
		t.Errorf("Allocated() = %d, want at least 1 MiB", tr.Allocated())
	}
	if len(tr.Collections) != 1 {
		t.Errorf("want the one collection main asked for, got %q\n%s", tr.Collections, out)
	}
}

func TestEnvDropsGOGCAndGODEBUG(t *testing.T) {
	t.Parallel()
	got := Env([]string{"A=1", "GOGC=50", "GODEBUG=x=1", "B=2"})
	want := []string{"A=1", "B=2", "GODEBUG=inittrace=1,gctrace=1"}
	if !slices.Equal(got, want) {
		t.Errorf("Env = %q, want %q", got, want)
	}
}
