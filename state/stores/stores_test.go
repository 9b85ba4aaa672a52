package stores

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name        string
		cfg         Config
		wantErr     string // "" when the store opens
		wantUnknown bool
	}{
		{"sqlite by default", Config{Path: filepath.Join(dir, "a", "state.db")}, "", false},
		{"sqlite", Config{Type: "sqlite", Path: filepath.Join(dir, "b", "state.db")}, "", false},
		{"sqlite cannot create its directory", Config{Type: "sqlite", Path: filepath.Join(dir, "a", "state.db", "x", "state.db")}, "create directory", false},
		{"postgres with a bad DSN", Config{Type: "postgres", DSN: "postgres://u@127.0.0.1:notaport/db"}, "DSN cannot be parsed", false},
		{"unknown type", Config{Type: "mysql"}, `state.type "mysql" is not known`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := s.Watermark(t.Context(), "p", "w"); err != nil {
					t.Fatalf("the opened store does not answer: %v", err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if s != nil {
				t.Fatalf("a failed open returned a non-nil store %#v", s)
			}
			var unknown *UnknownTypeError
			if errors.As(err, &unknown) != tt.wantUnknown {
				t.Fatalf("err = %v: unknown type = %v, want %v", err, !tt.wantUnknown, tt.wantUnknown)
			}
		})
	}
}
