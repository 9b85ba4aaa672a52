package stage_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/diskfault"
)

// Each OS error comes from a real system call where one fails that way for root too; the others are the
// errors Go's os package returns for them.
func TestOSFault(t *testing.T) {
	write := func(path string) error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Write([]byte("x"))
		return err
	}
	tests := []struct {
		name   string
		err    func(t *testing.T) error
		reason string // "" for a transient fault, left to the retries
	}{
		{"full disk", func(t *testing.T) error { return write(diskfault.Full(t)) }, "no space left on device"},
		{"denied directory", func(t *testing.T) error { return os.MkdirAll(diskfault.Denied(t), 0o755) }, "permission denied"},
		{"denied file", func(t *testing.T) error { return write(filepath.Dir(diskfault.Denied(t)) + "/jetflow-file") }, "permission denied"},
		{"path below a file", func(t *testing.T) error { return os.MkdirAll(diskfault.BelowFile(t), 0o755) }, "not a directory"},
		{"read-only file system", func(*testing.T) error {
			return &fs.PathError{Op: "open", Path: "/ro/x", Err: syscall.EROFS}
		}, "read-only file system"},
		{"quota", func(*testing.T) error { return &fs.PathError{Op: "write", Path: "/q/x", Err: syscall.EDQUOT} }, "disk quota exceeded"},
		{"missing file", func(t *testing.T) error { _, err := os.Open(filepath.Join(t.TempDir(), "nope")); return err }, ""},
		{"connection reset", func(*testing.T) error {
			return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
		}, ""},
		{"timeout", func(*testing.T) error { return context.DeadlineExceeded }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cause := tc.err(t)
			if cause == nil {
				t.Fatal("the fault did not happen")
			}
			err := fmt.Errorf("loader out: %w", stage.OSFault(cause))
			f, fatal := stage.AsFatal(err)
			if fatal != (tc.reason != "") {
				t.Fatalf("IsFatal(%v) = %v, want %v", err, fatal, !fatal)
			}
			if !errors.Is(err, cause) {
				t.Errorf("the classified error does not wrap its cause %v", cause)
			}
			if !fatal {
				return
			}
			if f.Reason != tc.reason {
				t.Errorf("reason %q, want %q", f.Reason, tc.reason)
			}
			msg := stage.CauseFirst(err).Error()
			if want := tc.reason + ": loader out: "; !strings.HasPrefix(msg, want) {
				t.Errorf("message %q does not start with %q", msg, want)
			}
			if !strings.HasSuffix(msg, f.Hint) {
				t.Errorf("message %q does not end with the hint %q", msg, f.Hint)
			}
		})
	}
}

func TestFatalAndPermanentAreApart(t *testing.T) {
	if stage.Fatal("r", "h", nil) != nil || stage.OSFault(nil) != nil || stage.CauseFirst(nil) != nil {
		t.Error("nil is not returned as nil")
	}
	perm := stage.Permanent(errors.New("value does not fit"))
	if stage.IsFatal(perm) || stage.CauseFirst(perm) != perm {
		t.Error("a permanent data fault is taken for a fatal one")
	}
	fatal := stage.Fatal("authentication failed", "check the password", errors.New("server said no"))
	if stage.IsPermanent(fatal) {
		t.Error("a fatal fault is taken for a permanent one")
	}
	// Marking twice, or putting the cause first twice, does not repeat the reason.
	once := stage.CauseFirst(fatal)
	if twice := stage.CauseFirst(fmt.Errorf("%w", once)); twice.Error() != once.Error() {
		t.Errorf("cause put first twice: %q", twice)
	}
	if got := stage.OSFault(fatal); got != fatal {
		t.Errorf("OSFault re-marked a fatal fault: %v", got)
	}
}

// What the run page shows of a failure: its first cause and how the engine treats it, however deep it is wrapped.
func TestInnermostAndErrorClass(t *testing.T) {
	root := errors.New("connection reset")
	tests := []struct {
		name      string
		err       error
		cause     string
		wantClass string
	}{
		{"plain", root, "connection reset", "transient"},
		{"wrapped", fmt.Errorf("loader out: write: %w", root), "connection reset", "transient"},
		{"fatal", fmt.Errorf("partition 3: %w", stage.Fatal("permission denied", "check", root)), "connection reset", "fatal"},
		{"permanent", fmt.Errorf("load: %w", stage.Permanent(root)), "connection reset", "permanent"},
		{"joined", fmt.Errorf("commit: %w", errors.Join(root, errors.New("cleanup failed"))), "connection reset", "transient"},
		{"two %w", fmt.Errorf("write: %w; abort: %w", root, errors.New("abort failed")), "connection reset", "transient"},
	}
	for _, tt := range tests {
		if got := stage.Innermost(tt.err).Error(); got != tt.cause {
			t.Errorf("%s: innermost %q, want %q", tt.name, got, tt.cause)
		}
		if got := stage.ErrorClass(tt.err); got != tt.wantClass {
			t.Errorf("%s: class %q, want %q", tt.name, got, tt.wantClass)
		}
	}
	if stage.Innermost(nil) != nil {
		t.Error("Innermost(nil) is not nil")
	}
}
