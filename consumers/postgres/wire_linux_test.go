package postgres

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestBatchedReads: a message shorter than the low-water mark is still delivered while the peer waits (the
// end of a result), what is sent later is read whole, and stop ends a read that waits for nothing.
func TestBatchedReads(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	next := make(chan []byte)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		for b := range next { // open until the test closes next: the client's stop must end its last read
			if _, err := conn.Write(b); err != nil {
				return
			}
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	read, stop, ok := batchedReads(nc)
	if !ok {
		t.Fatal("batchedReads refused a TCP connection")
	}
	buf := make([]byte, 2*batchBytes)
	for _, size := range []int{10, batchBytes + 5} {
		next <- make([]byte, size)
		got := 0
		for got < size {
			n, err := read(buf[got:])
			if err != nil {
				t.Fatalf("read after %d of %d bytes: %v", got, size, err)
			}
			got += n
		}
	}
	done := make(chan error, 1)
	go func() { _, err := read(buf); done <- err }()
	stop()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("read after stop: %v, want EOF", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("stop did not end the read")
	}
	close(next)
}
