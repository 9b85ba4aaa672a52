// Package diskfault gives tests paths where writing fails as it does on a misconfigured or full disk. The
// sessions and containers that run tests are often root, whom a chmod does not stop, so each path fails for
// root too.
package diskfault

import (
	"os"
	"path/filepath"
	"testing"
)

// Denied is a directory path under which creating anything fails with a permission error (EACCES or EPERM),
// also for root: a path in sysfs, which refuses new files and directories to everyone. The test is skipped where
// /sys is not a mounted sysfs.
func Denied(t testing.TB) string {
	t.Helper()
	dir := "/sys/jetflow-diskfault-denied"
	if err := os.Mkdir(dir, 0o755); err == nil {
		os.Remove(dir)
		t.Skip("/sys accepts new directories here: no path refuses root")
	} else if !os.IsPermission(err) {
		t.Skipf("no sysfs at /sys (%v): no path refuses root", err)
	}
	return dir
}

// BelowFile is a directory path whose parent is a regular file, so that creating anything there fails with
// ENOTDIR: the output directory of a pipeline that points at a file by mistake.
func BelowFile(t testing.TB) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("not a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(file, "out")
}

// Full is a file every write to which fails with ENOSPC, as on a full disk: /dev/full. The test is skipped
// where it does not exist.
func Full(t testing.TB) string {
	t.Helper()
	const path = "/dev/full"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no %s: %v", path, err)
	}
	return path
}
