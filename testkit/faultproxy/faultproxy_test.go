package faultproxy

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// A server that sends 100 KB per connection; the proxy lets the first connection through whole, cuts the second
// after 10,000 bytes, and passes the third again.
func TestCutAfter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	payload := bytes.Repeat([]byte("0123456789"), 10_000)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.Write(payload); c.Close() }()
		}
	}()
	p := Start(t, ln.Addr().String())
	read := func() int {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		return len(b)
	}
	if n := read(); n != len(payload) {
		t.Fatalf("uncut connection delivered %d bytes, want %d", n, len(payload))
	}
	p.CutAfter(10_000, 1)
	if n := read(); n != 10_000 {
		t.Fatalf("cut connection delivered %d bytes, want 10000", n)
	}
	if n := read(); n != len(payload) {
		t.Fatalf("after the one cut, a connection delivered %d bytes, want all", n)
	}
	if p.Cuts() != 1 {
		t.Fatalf("cuts = %d, want 1", p.Cuts())
	}
}
