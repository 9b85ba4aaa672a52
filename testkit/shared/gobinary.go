package shared

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// GoBinary is a server the tests run that builds from the Go module proxy but takes too long to build within a
// package's tests (MinIO, the Pushgateway): .ci/run builds it once into the cache directory
// ($HOME/.cache/jetflow/bin/<Name>-<Tag>), and the tests skip, naming the command that builds it, when it is
// missing. An environment variable can name another binary.
type GoBinary struct {
	Name    string // the command go install makes: minio, pushgateway
	What    string // for messages: "MinIO"
	Module  string // github.com/minio/minio
	Version string // the module version .ci/run builds (a test of each package checks that it is the same)
	Tag     string // the version as it ends the cached file's name
	Env     string // names a binary to use instead of the cached one
}

// Cached is where the tests look for the binary.
func (b GoBinary) Cached() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory for the binary cache: %w", err)
	}
	return filepath.Join(home, ".cache", "jetflow", "bin", b.Name+"-"+b.Tag), nil
}

// InstallCommand is the shell command that builds the binary into the cache (for messages).
func (b GoBinary) InstallCommand() string {
	bin, err := b.Cached()
	if err != nil {
		bin = "$HOME/.cache/jetflow/bin/" + b.Name + "-" + b.Tag
	}
	return fmt.Sprintf(`[ -x %[1]s ] || { d=$(mktemp -d) && GOBIN=$d GOFLAGS= go install %[2]s@%[3]s && mkdir -p %[4]s && mv $d/%[5]s %[1]s; }`,
		bin, b.Module, b.Version, filepath.Dir(bin), b.Name)
}

// Path returns the binary to run: $Env, else the cached one.
func (b GoBinary) Path() (string, error) {
	if p := os.Getenv(b.Env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s=%s: %w", b.Env, p, err)
		}
		return p, nil
	}
	bin, err := b.Cached()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("no %s binary at %s", b.What, bin)
	}
	return bin, nil
}

// Require returns the binary, or skips t saying which tests do not run (why) and how to build it.
func (b GoBinary) Require(t testing.TB, why string) string {
	t.Helper()
	bin, err := b.Path()
	if err != nil {
		t.Skipf("%v, so %s do not run; build it with:\n  %s\nor set $%s to a binary.", err, why, b.InstallCommand(), b.Env)
	}
	return bin
}

// CIBuilds checks that the CI script at ci builds this version: it calls its build function with
// `NAME MODULE VERSION`.
func (b GoBinary) CIBuilds(t testing.TB, ci string) {
	t.Helper()
	script, err := os.ReadFile(ci)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("cache_go_binary %s %s %s %s", b.Name, b.Module, b.Version, b.Tag)
	if !slices.Contains(strings.Split(string(script), "\n"), want) {
		t.Errorf("%s does not build %s %s: want the line\n  %s", ci, b.What, b.Version, want)
	}
}

// StartOnFreePort starts a server with start, which picks a free port itself, and stops it when t ends, showing
// the end of its log (logTail) if t failed. The port is free just before the server binds it; another process
// may take it first, so a start that finds it in use is tried again, up to three times.
func StartOnFreePort[S any](t testing.TB, start func() (S, error), stop func(S) error, logTail func(S) string) S {
	t.Helper()
	var (
		srv S
		err error
	)
	for attempt := 0; ; attempt++ {
		srv, err = start()
		if err == nil || attempt == 2 || !strings.Contains(err.Error(), "already in use") {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(srv); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("the server's log ends with:\n%s", logTail(srv))
		}
	})
	return srv
}
