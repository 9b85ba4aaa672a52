package postgres

import (
	"fmt"

	"github.com/jackc/pglogrepl"

	"github.com/jetflow-dev/jetflow/stage"
)

// isChange tells the pgoutput messages decodeChange reads in place (insert, update, delete) from the rest, which
// pglogrepl parses: those come once per transaction or relation, changes once per row.
func isChange(data []byte) bool {
	if len(data) == 0 {
		return false
	}
	switch pglogrepl.MessageType(data[0]) {
	case pglogrepl.MessageTypeInsert, pglogrepl.MessageTypeUpdate, pglogrepl.MessageTypeDelete:
		return true
	}
	return false
}

// rawChange is an insert, update or delete message as received (type byte first), valid until the next message
// is received: decodeChange reads it in place.
type rawChange []byte

func (m rawChange) Type() pglogrepl.MessageType { return pglogrepl.MessageType(m[0]) }

// tupleCol is one column of a pgoutput tuple: its kind (n, u, t or b) and, for t and b, its bytes.
type tupleCol struct {
	kind byte
	data []byte
}

// changeTuples are the tuples of one change message, as slices of the message: the message's bytes are decoded
// into the builders before the next message is received, so nothing is copied.
type changeTuples struct {
	op       string // "i", "u" or "d": the change's _op
	relID    uint32
	tup, old []tupleCol // old is empty but for an update with the old row
}

// parseChange reads an insert, update or delete message (type byte first) into t, reusing its slices. A message
// shorter than it says it is, or of an unknown shape, is an error (the stream is not pgoutput's, or corrupt).
func parseChange(data []byte, t *changeTuples) error {
	bad := func(what string) error {
		return fmt.Errorf("malformed %c message of %d bytes: %s", data[0], len(data), what)
	}
	if len(data) < 6 {
		return bad("too short")
	}
	t.relID = be32(data[1:])
	t.tup, t.old = t.tup[:0], t.old[:0]
	p, kind := data[6:], data[5]
	var err error
	switch pglogrepl.MessageType(data[0]) {
	case pglogrepl.MessageTypeInsert:
		t.op = "i"
		if kind != 'N' {
			return bad("no new tuple")
		}
		t.tup, _, err = parseTuple(p, t.tup)
	case pglogrepl.MessageTypeDelete:
		t.op = "d"
		if kind != 'K' && kind != 'O' {
			return bad("no old tuple")
		}
		t.tup, _, err = parseTuple(p, t.tup)
	case pglogrepl.MessageTypeUpdate:
		t.op = "u"
		if kind == 'K' || kind == 'O' {
			if t.old, p, err = parseTuple(p, t.old); err != nil {
				return bad(err.Error())
			}
			if len(p) == 0 {
				return bad("no new tuple")
			}
			kind, p = p[0], p[1:]
		}
		if kind != 'N' {
			return bad("no new tuple")
		}
		t.tup, _, err = parseTuple(p, t.tup)
	default:
		return bad("not a change")
	}
	if err != nil {
		return bad(err.Error())
	}
	return nil
}

// parseTuple reads a TupleData (Int16 columns, then per column a kind byte and, for t and b, an Int32 length and
// the bytes) into cols, and returns what follows it.
func parseTuple(p []byte, cols []tupleCol) ([]tupleCol, []byte, error) {
	if len(p) < 2 {
		return cols, nil, fmt.Errorf("tuple without a column count")
	}
	n := int(be16(p))
	p = p[2:]
	for j := range n {
		if len(p) < 1 {
			return cols, nil, fmt.Errorf("tuple of %d columns ends at column %d", n, j)
		}
		c := tupleCol{kind: p[0]}
		p = p[1:]
		switch c.kind {
		case pglogrepl.TupleDataTypeNull, pglogrepl.TupleDataTypeToast:
		case pglogrepl.TupleDataTypeText, pglogrepl.TupleDataTypeBinary:
			if len(p) < 4 {
				return cols, nil, fmt.Errorf("column %d without a length", j)
			}
			l := be32(p)
			if uint64(l) > uint64(len(p)-4) {
				return cols, nil, fmt.Errorf("column %d says %d bytes, %d follow", j, l, len(p)-4)
			}
			c.data, p = p[4:4+l:4+l], p[4+l:]
		default:
			return cols, nil, fmt.Errorf("column %d of unknown kind %q", j, c.kind)
		}
		cols = append(cols, c)
	}
	return cols, p, nil
}

// decodeChange decodes an insert, update or delete message of the relation relID (others are not the table's)
// into the builders, in place. An unchanged TOASTed value ('u') is taken from the old tuple, which REPLICA
// IDENTITY FULL makes whole. It returns the bytes of row data.
func (b *changeBatcher) decodeChange(data []byte, relID uint32, cols []int) (int64, error) {
	t := &b.tuples
	if len(data) >= 5 && be32(data[1:]) != relID {
		return 0, nil // another table of the publication: not parsed
	}
	if err := parseChange(data, t); err != nil {
		return 0, stage.Permanent(fmt.Errorf("postgres cdc: %s, in the transaction committed at %s", err, pglogrepl.LSN(b.lsnV)))
	}
	op := t.op
	var size int64
	vals, set := b.vals, b.set
	clear(vals)
	clear(set)
	for j, c := range t.tup {
		if j >= len(cols) || cols[j] < 0 {
			continue
		}
		i := cols[j]
		switch c.kind {
		case pglogrepl.TupleDataTypeNull:
			set[i] = true
		case pglogrepl.TupleDataTypeBinary:
			vals[i], set[i] = c.data, true
		case pglogrepl.TupleDataTypeToast:
			if j >= len(t.old) || t.old[j].kind != pglogrepl.TupleDataTypeBinary {
				return 0, stage.Permanent(fmt.Errorf("postgres cdc: an update of %s left column %q unchanged (TOAST) and the old row does not carry it: set ALTER TABLE %s REPLICA IDENTITY FULL",
					b.s.base.table.Sanitize(), b.decs[i].col, b.s.base.table.Sanitize()))
			}
			vals[i], set[i] = t.old[j].data, true
		default:
			return 0, stage.Permanent(fmt.Errorf("postgres cdc: column %q of %s came as %q, not binary", b.decs[i].col, b.s.base.table.Sanitize(), c.kind))
		}
		size += int64(len(vals[i]))
	}
	for i, d := range b.decs {
		if !set[i] && i < len(b.absent) && b.absent[i] {
			continue // dropped from the table while streaming: its value stays nil, a null below
		}
		if !set[i] {
			return 0, stage.Permanent(fmt.Errorf("postgres cdc: a %s change of %s lacks column %q", op, b.s.base.table.Sanitize(), d.col))
		}
	}
	for i, d := range b.decs {
		if vals[i] == nil {
			d.b.AppendNull()
			continue
		}
		if err := d.decode(vals[i]); err != nil {
			return 0, stage.Permanent(fmt.Errorf("postgres cdc: %s change at %s: %w", op, pglogrepl.LSN(b.lsnV), err))
		}
	}
	return size, b.endRow(op)
}
