// Package faultproxy is a TCP proxy for tests that cuts connections mid-stream: it forwards to a real server (a
// PostgreSQL, an HTTP API) and, for the connections it is told to, closes both sides once the server has sent a
// given number of bytes — a dropped connection in the middle of a result, as a network or a server restart
// makes one.
package faultproxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards connections from Addr to a target.
type Proxy struct {
	Addr     string // host:port to connect to instead of the target
	target   string
	ln       net.Listener
	cutAfter atomic.Int64 // server→client bytes after which the next connection to cut is cut; 0: none
	toCut    atomic.Int64 // connections still to cut
	cuts     atomic.Int64 // connections cut so far
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// Start listens on a free loopback port and forwards to target; the proxy stops when the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// CutAfter makes the next n connections that carry more than bytes from the server be cut right there.
func (p *Proxy) CutAfter(bytes int64, n int) {
	p.cutAfter.Store(bytes)
	p.toCut.Store(int64(n))
}

// Cuts is the number of connections cut so far.
func (p *Proxy) Cuts() int { return int(p.cuts.Load()) }

// Close stops accepting and closes every open connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.track(client, true)
		p.track(server, true)
		p.wg.Add(2)
		go func() { // client → server, untouched
			defer p.wg.Done()
			io.Copy(server, client)
			server.Close()
		}()
		go func() { // server → client, counted and cut
			defer p.wg.Done()
			defer func() {
				client.Close()
				server.Close()
				p.track(client, false)
				p.track(server, false)
			}()
			p.pipe(client, server)
		}()
	}
}

// pipe copies server to client; once more than cutAfter bytes went through and a cut is due, it stops.
func (p *Proxy) pipe(client, server net.Conn) {
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := server.Read(buf)
		if n > 0 {
			if limit := p.cutAfter.Load(); limit > 0 && sent+int64(n) > limit && p.toCut.Load() > 0 {
				if p.toCut.Add(-1) >= 0 {
					client.Write(buf[:limit-sent])
					p.cuts.Add(1)
					return
				}
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
			sent += int64(n)
		}
		if err != nil { // EOF or a closed connection: the server is done
			return
		}
	}
}
