package stage

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
)

// Fatal marks err as a fault of the environment that no retry can fix and that every other partition would hit
// too: a refused password, a missing database or bucket, a full or read-only disk, a denied permission. The engine
// attempts such a partition once and stops the run, which ends with exit code 4; a retry would only wait for the
// same answer. reason names the fault in a few words ("authentication failed") and is printed first; hint says
// what to do ("check the dsn's user and password"). Each stage classifies its own driver's errors; transient
// faults (a reset connection, a timeout, a 5xx, a commit conflict) stay unmarked and keep their retries. Fatal
// returns nil for nil.
func Fatal(reason, hint string, err error) error {
	if err == nil {
		return nil
	}
	return &FatalError{Reason: reason, Hint: hint, Err: err}
}

// FatalError is a fault marked by Fatal.
type FatalError struct {
	Reason string // the fault in a few words, such as "permission denied"
	Hint   string // what to do about it, such as "check that the user running jetflow may write there"
	Err    error
}

func (e *FatalError) Error() string {
	if e.Hint == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Hint
}

func (e *FatalError) Unwrap() error { return e.Err }

// IsFatal tells whether err, or an error it wraps, was marked by Fatal.
func IsFatal(err error) bool {
	_, ok := AsFatal(err)
	return ok
}

// AsFatal finds the FatalError inside err, if any.
func AsFatal(err error) (*FatalError, bool) {
	var f *FatalError
	if errors.As(err, &f) {
		return f, true
	}
	return nil, false
}

// CauseFirst puts the reason of the fatal fault inside err in front of err's message, so that the line a user
// reads starts with what went wrong ("permission denied: partition 3: loader out: open /data/x: ...: check ..."),
// however deep the fault was wrapped. Other errors, and nil, are returned unchanged.
func CauseFirst(err error) error {
	f, ok := AsFatal(err)
	if !ok || strings.HasPrefix(err.Error(), f.Reason+": ") {
		return err
	}
	return &causeFirst{reason: f.Reason, err: err}
}

type causeFirst struct {
	reason string
	err    error
}

func (e *causeFirst) Error() string { return e.reason + ": " + e.err.Error() }
func (e *causeFirst) Unwrap() error { return e.err }

// OSFault marks err as fatal when the operating system refused for good: a full disk or quota, a read-only file
// system, a denied permission, or a path whose parent is a file. It returns err unchanged otherwise (and nil for
// nil). Stages that write or read local files pass their errors through it.
func OSFault(err error) error {
	if err == nil || IsFatal(err) {
		return err
	}
	for _, c := range osFaults {
		if errors.Is(err, c.target) {
			return Fatal(c.reason, c.hint, err)
		}
	}
	return err
}

var osFaults = []struct {
	target       error
	reason, hint string
}{
	{syscall.ENOSPC, "no space left on device", "free space on that file system, then run again"},
	{syscall.EDQUOT, "disk quota exceeded", "free space or raise the quota, then run again"},
	{syscall.EROFS, "read-only file system", "point the path at a writable file system"},
	{fs.ErrPermission, "permission denied", "check that the user running jetflow may write there"},
	{syscall.ENOTDIR, "not a directory", "a part of the path is a file: fix the path or move the file"},
}

// Innermost is the last error of err's chain: the first cause. An error that wraps several (errors.Join, or
// fmt.Errorf with more than one %w) is followed into the first of them, the one its message starts with. nil for
// nil.
func Innermost(err error) error {
	for {
		var next error
		switch e := err.(type) {
		case interface{ Unwrap() error }:
			next = e.Unwrap()
		case interface{ Unwrap() []error }:
			if errs := e.Unwrap(); len(errs) > 0 {
				next = errs[0]
			}
		}
		if next == nil {
			return err
		}
		err = next
	}
}

// ErrorClass names how the engine treats err: "fatal" (marked by Fatal: the run stops), "permanent" (marked by
// Permanent: the partition is not retried) or "transient" (retried while attempts remain).
func ErrorClass(err error) string {
	switch {
	case IsFatal(err):
		return "fatal"
	case IsPermanent(err):
		return "permanent"
	}
	return "transient"
}
