package rowgroup

import (
	"bufio"
	"io"
)

// SinkBuffer is the size of the write buffer in front of the files' sinks. The Parquet writer writes a row
// group's pages when it is cut, one page at a time: larger writes bypass the buffer, so it only spares system
// calls for the page headers and small pages.
const SinkBuffer = 32 << 10

// Sinks is one write buffer of SinkBuffer bytes shared by the files one goroutine writes. A buffered Parquet
// file reaches its sink only when a row group is written out and when it is closed, and then one file at a time:
// a buffer per open file (259 of them for an Iceberg table partitioned by tenant and month) would hold memory
// that is idle almost all the time.
type Sinks struct {
	buf   *bufio.Writer
	owner *Sink // the file whose bytes buf holds
}

// Sink writes one file through its Sinks' buffer. Not safe for concurrent use, like the Sinks it shares.
type Sink struct {
	s   *Sinks
	w   io.Writer
	err error // sticky: the first write or flush that failed
}

// New returns a Sink writing to w through the shared buffer.
func (s *Sinks) New(w io.Writer) *Sink {
	if s.buf == nil {
		s.buf = bufio.NewWriterSize(nil, SinkBuffer)
	}
	return &Sink{s: s, w: w}
}

func (f *Sink) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	if f.s.owner != f {
		if o := f.s.owner; o != nil {
			_ = o.Flush() // a failure stays with o, reported by its own Flush
		}
		f.s.owner = f
		f.s.buf.Reset(f.w)
	}
	n, err := f.s.buf.Write(p)
	if err != nil {
		f.err = err
		f.s.owner = nil
	}
	return n, err
}

// Flush writes out the bytes of this file the buffer holds, and reports the first failure of the file's writes.
func (f *Sink) Flush() error {
	if f.s.owner == f {
		f.s.owner = nil
		if err := f.s.buf.Flush(); err != nil && f.err == nil {
			f.err = err
		}
		f.s.buf.Reset(nil)
	}
	return f.err
}

// Drop forgets the bytes of this file the buffer holds: the file is being discarded.
func (f *Sink) Drop() {
	if f.s.owner == f {
		f.s.owner = nil
		f.s.buf.Reset(nil)
	}
}
