// Package pgtest starts a real PostgreSQL server for tests, from the Debian packages' binaries
// (/usr/lib/postgresql/<version>/bin, the newest version installed), in a temporary directory, on a free port of
// 127.0.0.1. One server serves a whole test binary; each test gets a fresh database of its own:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Start(t).CreateDatabase(t)
//		...
//	}
//
// The server runs with wal_level=logical, so tests can create replication slots and stream changes.
//
// TCP connections authenticate with a password (scram-sha-256), as production servers do, so tests can also
// check what happens with a wrong one. The server runs as the postgres user when the tests run as root (initdb
// and postgres refuse root), and it is stopped when the test binary's parent-death signal fires, even if the
// binary is killed before Main's cleanup runs.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	sharedsrv "github.com/jetflow-dev/jetflow/testkit/shared"
)

// Root is where Debian's postgresql-<version> packages put their binaries.
const Root = "/usr/lib/postgresql"

// ErrNotInstalled says the server binaries are missing and how to install them.
var ErrNotInstalled = errors.New("PostgreSQL server binaries not found under /usr/lib/postgresql: " +
	"install them with `apt-get install postgresql` (CI's .ci/run does)")

// Server is a running PostgreSQL server owned by the test binary.
type Server struct {
	Host     string // always 127.0.0.1
	Port     int
	User     string // the superuser, "postgres"
	Password string // the superuser's password, checked on TCP connections
	Version  string // the major version, e.g. "15"

	dir  string // holds data/, sock/, pwfile and server.log
	bin  string
	cred *syscall.Credential
	proc *sharedsrv.Proc
	seq  atomic.Int64 // numbers the databases CreateDatabase makes
	stop sync.Once
	errs error
}

// The server shared by the tests of one binary: started by the first Start, stopped by Main after the tests.
var shared = sharedsrv.New("pgtest", "PostgreSQL", start, (*Server).Stop)

// Main runs the tests and then stops the server Start shared among them (if any test started it). Call it from
// TestMain.
func Main(m *testing.M) { shared.Main(m) }

// Start returns the server shared by the tests of this binary, starting it on first use. It fails the test when
// PostgreSQL is not installed or does not start. The package's TestMain must call Main, which stops the server.
func Start(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t)
}

// StartMain starts a server for a TestMain that manages it itself; stop stops it and removes its files.
func StartMain() (srv *Server, stop func(), err error) {
	srv, err = start(context.Background())
	if err != nil {
		return nil, nil, err
	}
	return srv, func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}, nil
}

// StartPrivate starts a server of the test's own, stopped when the test ends: for a test that restarts it.
func StartPrivate(t testing.TB) *Server {
	t.Helper()
	srv, err := start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// Restart stops the server (fast shutdown: sessions are ended, replication slots are saved) and starts it
// again on the same port, waiting until it accepts connections.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.shutdown(); err != nil {
		t.Fatalf("pgtest: stop for a restart: %v", err)
	}
	if err := s.run(context.Background(), s.Port); err != nil {
		t.Fatalf("pgtest: restart: %v", err)
	}
}

// DSN is the URL connecting to database as the superuser over TCP.
func (s *Server) DSN(database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(s.User, s.Password),
		Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDatabase creates an empty database for this test, dropped when the test ends, and returns its DSN.
func (s *Server) CreateDatabase(t testing.TB) string {
	t.Helper()
	name := sharedsrv.DBName(t.Name(), s.seq.Add(1), 63)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.admin(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE: a store the test forgot to close must not keep the database (and the test) alive.
		if err := s.admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.DSN(name)
}

func (s *Server) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop shuts the server down (fast shutdown: open sessions are ended) and removes its files.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		s.errs = s.shutdown()
		if err := os.RemoveAll(s.dir); err != nil {
			s.errs = errors.Join(s.errs, fmt.Errorf("remove %s: %w", s.dir, err))
		}
	})
	return s.errs
}

func (s *Server) shutdown() error {
	return s.proc.Stop(syscall.SIGINT, 30*time.Second, "PostgreSQL in "+s.dir) // SIGINT: fast shutdown
}

// binDir finds the bin directory of the newest PostgreSQL version installed.
// BinDir is the directory of the newest installed server's binaries (pg_recvlogical, psql, ...) and its version.
func BinDir() (dir, version string, err error) { return binDir(Root) }

func binDir(root string) (dir, version string, err error) {
	matches, _ := filepath.Glob(filepath.Join(root, "*", "bin", "postgres"))
	type found struct {
		major   int
		version string
	}
	var all []found
	for _, m := range matches {
		v := filepath.Base(filepath.Dir(filepath.Dir(m)))
		if n, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0]); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(m), "initdb")); err == nil {
				all = append(all, found{n, v})
			}
		}
	}
	if len(all) == 0 {
		return "", "", ErrNotInstalled
	}
	sort.Slice(all, func(i, j int) bool { return all[i].major > all[j].major })
	return filepath.Join(root, all[0].version, "bin"), all[0].version, nil
}

// runAs says which user the server runs as: nil for the current one; the postgres user when running as root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no postgres user to run it as "+
			"(the Debian package creates it): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func start(ctx context.Context) (*Server, error) {
	bin, version, err := binDir(Root)
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "jetflow-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: temporary directory: %w", err)
	}
	s := &Server{Host: "127.0.0.1", User: "postgres", Version: version, dir: dir, bin: bin, cred: cred}
	if err := s.initdb(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// A free port can be taken between our probe and postgres binding it: try a few.
	for try := 0; ; try++ {
		err = s.run(ctx, 0)
		if err == nil {
			return s, nil
		}
		if try == 2 || !strings.Contains(s.logTail(), "could not bind") {
			s.Stop()
			return nil, err
		}
	}
}

// env is the environment of the server's processes: ours without PG* variables, which would redirect them.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "LC_") && !strings.HasPrefix(kv, "LANG=") {
			out = append(out, kv)
		}
	}
	return append(out, "LC_ALL=C")
}

func (s *Server) initdb(ctx context.Context) error {
	bin, cred := s.bin, s.cred
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return fmt.Errorf("pgtest: password: %w", err)
	}
	s.Password = hex.EncodeToString(pw)
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := os.Mkdir(filepath.Join(s.dir, "sock"), 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		for _, p := range []string{s.dir, pwfile, filepath.Join(s.dir, "sock")} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("pgtest: give %s to the postgres user: %w", p, err)
			}
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", filepath.Join(s.dir, "data"), "-U", s.User,
		"--pwfile="+pwfile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir, cmd.Env = s.dir, env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		hint := ""
		if cred != nil {
			hint = fmt.Sprintf(" (running as root, the server runs as the postgres user, which must be able to reach %s)", s.dir)
		}
		return fmt.Errorf("pgtest: initdb failed%s: %w\n%s", hint, err, out.String())
	}
	return nil
}

// run starts the postmaster as a child of the test binary (not daemonized through pg_ctl), so its parent-death
// signal stops it if the binary dies without cleaning up, and waits until it accepts connections. It listens on
// port, or on a free one when port is 0.
func (s *Server) run(ctx context.Context, port int) error {
	bin, cred := s.bin, s.cred
	if port == 0 {
		var err error
		if port, err = sharedsrv.FreePort(); err != nil {
			return fmt.Errorf("pgtest: find a free port: %w", err)
		}
	}
	s.Port = port
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close() // the child keeps its own copy of the descriptor
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(s.dir, "data"), "-p", strconv.Itoa(port),
		"-k", filepath.Join(s.dir, "sock"), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
		"-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
		// Logical decoding for the change-capture tests; it costs the other tests a little more WAL, less than a
		// second server would.
		"-c", "wal_level=logical", "-c", "max_replication_slots=50", "-c", "max_wal_senders=50")
	cmd.Dir, cmd.Env = s.dir, env()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	proc, err := sharedsrv.StartProc(cmd, syscall.SIGINT)
	if err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s.proc = proc

	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-proc.Exited():
			return fmt.Errorf("pgtest: postgres exited at start (%s):\n%s", proc.State(), s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres does not accept connections on port %d after 60s (%v):\n%s", port, err, s.logTail())
		}
	}
}

// logTail is the end of the server's log, for error messages.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
