package main

import (
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/apd/v3"
	"github.com/jinzhu/inflection"

	"github.com/jetflow-dev/jetflow/cmd/jetflow/internal/briefgc"
	"github.com/jetflow-dev/jetflow/internal/inittrace"
)

// Every command pays for every package initializer linked into the binary, so work done there must stay small:
// what a command needs is built when it is first used. The budget is on bytes allocated, which the Go runtime
// reports exactly (GODEBUG=inittrace=1), not on time, which the machine's load decides. The largest initializer
// left is arrow-go's compute function registry (about 560 KiB), which no patch of ours reaches. The total is
// held well under the Go runtime's first collection goal (4 MiB of heap), which a collection starts short of.
const (
	packageInitBudget = 640 << 10
	totalInitBudget   = 3 << 20
)

func TestStartupInitializersAllocateLittle(t *testing.T) {
	t.Parallel()
	pipeline, err := filepath.Abs("../../examples/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(jetflowBin, "validate", pipeline)
	cmd.Env = inittrace.Env(os.Environ())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("jetflow validate: %v\n%s", err, out)
	}
	trace := inittrace.Parse(out)
	if len(trace.Inits) < 50 {
		t.Fatalf("read %d init trace lines from GODEBUG=inittrace=1; has the format changed?\n%s", len(trace.Inits), out)
	}
	for _, init := range trace.Inits {
		if init.Bytes > packageInitBudget {
			t.Errorf("package %s allocates %d bytes when the binary starts (budget %d): build what it needs on first use (sync.OnceValue); third_party/update.sh shows how a dependency is patched for this",
				init.Package, init.Bytes, packageInitBudget)
		}
	}
	if total := trace.Allocated(); total > totalInitBudget {
		t.Errorf("package initializers allocate %d bytes in all when the binary starts (budget %d)", total, totalInitBudget)
	}
	if len(trace.Collections) > 0 {
		t.Errorf("jetflow validate ran a garbage collection (briefgc should leave it none):\n%s", strings.Join(trace.Collections, "\n"))
	}
}

// Every brief command is a command.
func TestBriefCommandsExist(t *testing.T) {
	t.Parallel()
	for _, name := range briefgc.Commands {
		if !slices.ContainsFunc(commands, func(c cliCommand) bool { return c.name == name }) {
			t.Errorf("briefgc.Commands names %q, which is not a command", name)
		}
	}
}

// The dependencies third_party/update.sh patches build on first use what they built in package initializers; what
// they compute must not change. apd's tables decide how many digits a number has and its ln(10) constants every
// logarithm; inflection's rules name bun's tables.
func TestPatchedDependenciesCompute(t *testing.T) {
	t.Parallel()
	n := new(big.Int)
	for digits := 1; digits <= 160; digits++ {
		for _, delta := range []int64{-1, 0} { // 10^k-1 has k digits, 10^k has k+1
			n.Exp(big.NewInt(10), big.NewInt(int64(digits)), nil).Add(n, big.NewInt(delta))
			for _, sign := range []int{1, -1} {
				v := new(apd.BigInt).SetMathBigInt(new(big.Int).Mul(n, big.NewInt(int64(sign))))
				if got, want := apd.NumDigits(v), int64(len(n.String())); got != want {
					t.Fatalf("apd.NumDigits(%s) = %d, want %d", v, got, want)
				}
			}
		}
	}
	var ln10 apd.Decimal
	ctx := apd.BaseContext.WithPrecision(30)
	if _, err := ctx.Ln(&ln10, apd.New(10, 0)); err != nil {
		t.Fatal(err)
	}
	if got, want := ln10.String(), "2.30258509299404568401799145468"; got != want {
		t.Errorf("apd ln(10) at 30 digits = %s, want %s", got, want)
	}
	for _, tt := range []struct{ singular, plural string }{
		{"order", "orders"}, {"person", "people"}, {"Category", "Categories"}, {"fish", "fish"}, {"STATUS", "STATUSES"},
	} {
		if got := inflection.Plural(tt.singular); got != tt.plural {
			t.Errorf("inflection.Plural(%q) = %q, want %q", tt.singular, got, tt.plural)
		}
		if got := inflection.Singular(tt.plural); got != tt.singular {
			t.Errorf("inflection.Singular(%q) = %q, want %q", tt.plural, got, tt.singular)
		}
	}
}
