package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/stage"
)

// readCopy runs COPY (SELECT ...) TO STDOUT (FORMAT binary) and parses the stream as it arrives. COPY takes no
// bind parameters, so the bounds are written as quoted literals of text this package formats itself.
func (c *Consumer) readCopy(ctx context.Context, conn *pgx.Conn, src *source, p stage.Partition, bt *batcher) error {
	sql := src.sql
	if src.params > 0 {
		lo, err := formatBound(src.part.kind, p.Lo)
		if err != nil {
			return &decodeError{fmt.Errorf("postgres: partition %s: lower bound: %w", p.Key, err)}
		}
		hi, err := formatBound(src.part.kind, p.Hi)
		if err != nil {
			return &decodeError{fmt.Errorf("postgres: partition %s: upper bound: %w", p.Key, err)}
		}
		if sql, err = src.literal(quoteLiteral(lo), quoteLiteral(hi)); err != nil {
			return &decodeError{fmt.Errorf("postgres: partition %s: query template: %w", p.Key, err)}
		}
	}
	w := &copyParser{ctx: ctx, p: p, bt: bt, vals: make([][]byte, len(src.types))}
	_, err := conn.PgConn().CopyTo(ctx, w, "COPY ("+sql+") TO STDOUT (FORMAT binary)")
	if err != nil {
		return err
	}
	if !w.trailer {
		return fmt.Errorf("the COPY stream ended without its trailer after %d rows", bt.rows())
	}
	return nil
}

func quoteLiteral(b []byte) string { return "'" + strings.ReplaceAll(string(b), "'", "''") + "'" }

var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

// copyParser parses the binary COPY format from the CopyData payloads CopyTo writes. The server sends one row
// per message, so rows are parsed in place from the message; a row split across writes is carried over in pend.
type copyParser struct {
	ctx     context.Context
	p       stage.Partition
	bt      *batcher
	vals    [][]byte
	header  bool
	trailer bool
	pend    []byte
}

func (w *copyParser) Write(b []byte) (int, error) {
	n := len(b)
	data := b
	if len(w.pend) > 0 {
		w.pend = append(w.pend, b...)
		data = w.pend
	}
	used, err := w.parse(data)
	if err != nil {
		return 0, err
	}
	rest := data[used:]
	if len(w.pend) > 0 {
		w.pend = append(w.pend[:0], rest...)
	} else if len(rest) > 0 {
		w.pend = append(w.pend, rest...)
	}
	return n, nil
}

// parse consumes whole rows from data and returns how many bytes it used.
func (w *copyParser) parse(data []byte) (int, error) {
	off := 0
	if !w.header {
		if len(data) < len(copySignature)+8 {
			return 0, nil
		}
		if !bytes.Equal(data[:len(copySignature)], copySignature) {
			return 0, fmt.Errorf("the COPY stream does not start with the binary signature")
		}
		ext := int(binary.BigEndian.Uint32(data[len(copySignature)+4:]))
		if len(data) < len(copySignature)+8+ext {
			return 0, nil
		}
		off = len(copySignature) + 8 + ext
		w.header = true
	}
	for off < len(data) {
		if w.trailer {
			return 0, fmt.Errorf("the COPY stream has data after its trailer")
		}
		if len(data)-off < 2 {
			return off, nil
		}
		nf := int(int16(binary.BigEndian.Uint16(data[off:])))
		if nf == -1 {
			w.trailer = true
			off += 2
			continue
		}
		if nf != len(w.vals) {
			return 0, fmt.Errorf("a COPY row has %d fields, want %d", nf, len(w.vals))
		}
		pos := off + 2
		complete := true
		for i := range w.vals {
			if len(data)-pos < 4 {
				complete = false
				break
			}
			l := int(int32(binary.BigEndian.Uint32(data[pos:])))
			pos += 4
			if l < 0 {
				w.vals[i] = nil
				continue
			}
			if len(data)-pos < l {
				complete = false
				break
			}
			w.vals[i] = data[pos : pos+l : pos+l]
			pos += l
		}
		if !complete {
			return off, nil
		}
		if err := w.bt.row(w.ctx, w.p, w.vals); err != nil {
			return 0, err
		}
		off = pos
	}
	return off, nil
}
