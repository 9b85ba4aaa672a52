package failpoint

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The actions are tested in a child process, since points are read once per process.
func TestActions(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") == "1" {
		first, second := Inject("a"), Inject("a")
		always1, always2 := Inject("b"), Inject("b")
		unknown := Inject("nope")
		if first == nil || second != nil || always1 == nil || always2 == nil || unknown != nil {
			t.Fatalf("error-once: %v, %v; error: %v, %v; unset: %v", first, second, always1, always2, unknown)
		}
		if err := Inject("c"); err != nil {
			t.Fatal(err)
		}
		Inject("d")
		t.Fatal("still alive after kill")
	}
	cmd := exec.Command(os.Args[0], "-test.run=TestActions", "-test.v")
	cmd.Env = append(os.Environ(), "FAILPOINT_CHILD=1", EnvVar+"=a=error-once, b=error,c=sleep:1ms,d=kill")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child should die by SIGKILL at d; err=%v\n%s", err, out)
	}
	if strings.Contains(string(out), "FAIL:") || !strings.Contains(string(out), "failpoint d: SIGKILL") {
		t.Fatalf("child output:\n%s", out)
	}
}
