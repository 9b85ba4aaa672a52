package shared

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a server process run as a child of the test binary (never daemonized), in its own process group, with
// a parent-death signal, so that a test binary that dies without cleaning up takes its servers with it.
type Proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
}

// StartProc starts cmd with the parent-death signal deathSig, keeping any credential cmd already carries.
func StartProc(cmd *exec.Cmd, deathSig syscall.Signal) (*Proc, error) {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
	if cmd.SysProcAttr != nil {
		attr.Credential = cmd.SysProcAttr.Credential
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// State describes how the process ended (for messages; empty while it runs).
func (p *Proc) State() string {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.String()
	default:
		return ""
	}
}

// Stop sends sig and waits up to grace for the process to exit, then kills it; what names the server in the
// error a kill returns. A nil Proc or one that already exited stops at once.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration, what string) error {
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not shut down within %s and was killed", what, grace)
	}
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago. Another process can take it before the
// server binds it, so servers started on it retry on a bind error.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DBName makes a valid, unique, recognizable database name of at most maxLen bytes from a test name and a number:
// t_<test name in lower case, other characters as _>_<n>.
func DBName(test string, n int64, maxLen int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	base := b.String()
	suffix := "_" + strconv.FormatInt(n, 10)
	if room := maxLen - len("t_") - len(suffix); len(base) > room {
		base = base[:max(room, 0)]
	}
	return "t_" + base + suffix
}
