package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// Every command pays for every package initializer linked into the binary, so work done there must stay small:
// what a command needs is built when it is first used. The budget is on bytes allocated, which the Go runtime
// reports exactly (GODEBUG=inittrace=1), not on time, which the machine's load decides. The total stays under the
// Go runtime's first collection goal (4 MiB of heap), so that a command's start runs no garbage collection.
const (
	packageInitBudget = 1 << 20
	totalInitBudget   = 4 << 20
)

var initTraceLine = regexp.MustCompile(`(?m)^init (\S+) @[0-9.]+ ms, [0-9.]+ ms clock, ([0-9]+) bytes, [0-9]+ allocs$`)

func TestStartupInitializersAllocateLittle(t *testing.T) {
	t.Parallel()
	pipeline, err := filepath.Abs("../../examples/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(jetflowBin, "validate", pipeline)
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("jetflow validate: %v\n%s", err, out)
	}
	lines := initTraceLine.FindAllStringSubmatch(string(out), -1)
	if len(lines) < 50 {
		t.Fatalf("read %d init trace lines from GODEBUG=inittrace=1; has the format changed?\n%s", len(lines), out)
	}
	total := 0
	for _, line := range lines {
		bytes, err := strconv.Atoi(line[2])
		if err != nil {
			t.Fatal(err)
		}
		total += bytes
		if bytes > packageInitBudget {
			t.Errorf("package %s allocates %d bytes when the binary starts (budget %d): build what it needs on first use (sync.OnceValue); third_party/update-iceberg-go.sh shows how a dependency was patched for this",
				line[1], bytes, packageInitBudget)
		}
	}
	if total > totalInitBudget {
		t.Errorf("package initializers allocate %d bytes in all when the binary starts (budget %d)", total, totalInitBudget)
	}
}
