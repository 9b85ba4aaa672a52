package shared

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDBName(t *testing.T) {
	tests := []struct {
		test string
		n    int64
		want string
	}{
		{"TestX", 1, "t_testx_1"},
		{"TestStore/postgres/Claim lifecycle", 12, "t_teststore_postgres_claim_lifecycle_12"},
		{strings.Repeat("a", 100), 3, "t_" + strings.Repeat("a", 59) + "_3"},
	}
	for _, tt := range tests {
		if got := DBName(tt.test, tt.n, 63); got != tt.want || len(got) > 63 {
			t.Errorf("DBName(%q, %d, 63) = %q, want %q", tt.test, tt.n, got, tt.want)
		}
	}
}

func TestProcStop(t *testing.T) {
	tests := []struct {
		name    string
		script  string // run by sh
		wantErr bool
	}{
		{"stops on the signal", "sleep 30", false},
		{"killed when it ignores the signal", "trap '' TERM; sleep 30", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := StartProc(exec.Command("sh", "-c", tc.script), syscall.SIGTERM)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // let sh set its trap
			err = p.Stop(syscall.SIGTERM, 500*time.Millisecond, "the test server")
			if (err != nil) != tc.wantErr {
				t.Fatalf("Stop: %v, want an error: %v", err, tc.wantErr)
			}
			select {
			case <-p.Exited():
			default:
				t.Fatal("Stop returned while the process runs")
			}
			if p.State() == "" {
				t.Error("State is empty after the process exited")
			}
		})
	}
}
