package pgtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestBinDirPicksNewestVersion(t *testing.T) {
	tests := []struct {
		name     string
		versions []string // directories holding bin/postgres and bin/initdb
		partial  []string // directories holding only bin/postgres
		want     string
		wantErr  error
	}{
		{name: "none", wantErr: ErrNotInstalled},
		{name: "client only", partial: []string{"16"}, wantErr: ErrNotInstalled},
		{name: "one", versions: []string{"15"}, want: "15"},
		{name: "numeric not lexical order", versions: []string{"9.6", "13", "15"}, want: "15"},
		{name: "newest lacks initdb", versions: []string{"14"}, partial: []string{"17"}, want: "14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			mk := func(v string, files ...string) {
				bin := filepath.Join(root, v, "bin")
				if err := os.MkdirAll(bin, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, f := range files {
					if err := os.WriteFile(filepath.Join(bin, f), nil, 0o755); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, v := range tt.versions {
				mk(v, "postgres", "initdb")
			}
			for _, v := range tt.partial {
				mk(v, "postgres")
			}
			dir, version, err := binDir(root)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (version != tt.want || dir != filepath.Join(root, tt.want, "bin")) {
				t.Fatalf("got %s (%s), want version %s", version, dir, tt.want)
			}
		})
	}
	if !strings.Contains(ErrNotInstalled.Error(), "apt-get install postgresql") {
		t.Fatalf("the not-installed error does not say how to install: %v", ErrNotInstalled)
	}
}

// The server is real: databases are separate, dropped after their test, and TCP logins check the password.
func TestServer(t *testing.T) {
	ctx := context.Background()
	srv := Start(t)
	if srv2 := Start(t); srv2 != srv {
		t.Fatal("Start started a second server in the same test binary")
	}
	var first string
	t.Run("database", func(t *testing.T) {
		dsn := srv.CreateDatabase(t)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&first); err != nil {
			t.Fatal(err)
		}
		var other string
		if err := connectScan(ctx, srv.CreateDatabase(t), "SELECT current_database()", &other); err != nil {
			t.Fatal(err)
		}
		if other == first {
			t.Fatalf("two CreateDatabase calls returned the same database %s", first)
		}
		var version string
		if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(version, srv.Version) {
			t.Fatalf("server version %s, want %s", version, srv.Version)
		}
	})
	var n int
	if err := connectScan(ctx, srv.DSN("postgres"), "SELECT count(*) FROM pg_database WHERE datname = '"+first+"'", &n); err != nil {
		t.Fatal(err)
	}
	if first == "" || n != 0 {
		t.Fatalf("database %q still exists after its test (%d)", first, n)
	}
	bad := strings.Replace(srv.DSN("postgres"), srv.Password, "wrong", 1)
	if _, err := pgx.Connect(ctx, bad); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("login with a wrong password: %v, want an authentication failure", err)
	}
}

func connectScan(ctx context.Context, dsn, sql string, dst any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dst)
}
