package postgres

import (
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// While the client decodes faster than the server sends, each read through Go's poller returns the few rows
// that arrived since the last one and then parks in epoll: most of the client's CPU went to those wake-ups.
// Instead the socket is switched to blocking reads that wait for at least batchBytes (SO_RCVLOWAT) or
// batchWait (SO_RCVTIMEO) and return what is there, so a wake-up carries hundreds of rows; batchWait bounds
// the delay of a result's last, short messages.
const (
	batchBytes = 64 << 10
	batchWait  = 2 * time.Millisecond
)

// batchedReads returns a read of nc's socket in that mode, and stop, which makes a read in progress return
// (shutdown of the socket: the connection is not used after). ok is false for a connection that is not a plain
// socket (TLS) or whose options cannot be set; it is left as it was.
func batchedReads(nc net.Conn) (read func([]byte) (int, error), stop func(), ok bool) {
	sc, isSock := nc.(syscall.Conn)
	if !isSock {
		return nil, nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, nil, false
	}
	var setErr error
	if err := rc.Control(func(fd uintptr) {
		f := int(fd)
		tv := unix.NsecToTimeval(batchWait.Nanoseconds())
		if setErr = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVLOWAT, batchBytes); setErr != nil {
			return
		}
		if setErr = unix.SetsockoptTimeval(f, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); setErr != nil {
			return
		}
		setErr = unix.SetNonblock(f, false)
	}); err != nil || setErr != nil {
		return nil, nil, false
	}
	read = func(p []byte) (int, error) {
		for {
			var n int
			var rerr error
			// Control keeps the descriptor open while the read blocks in it.
			if err := rc.Control(func(fd uintptr) { n, rerr = unix.Read(int(fd), p) }); err != nil {
				return 0, err
			}
			switch {
			case rerr == unix.EAGAIN || rerr == unix.EINTR: // batchWait passed with nothing, or a signal
				continue
			case rerr != nil:
				return 0, rerr
			case n == 0:
				return 0, io.EOF
			}
			return n, nil
		}
	}
	stop = func() { _ = rc.Control(func(fd uintptr) { _ = unix.Shutdown(int(fd), unix.SHUT_RDWR) }) }
	return read, stop, true
}
