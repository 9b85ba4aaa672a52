package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/jetflow-dev/jetflow/stage"
)

// The extended read speaks the protocol itself once pgx has connected, authenticated and begun the transaction:
// pgconn's row reader decodes every DataRow into a message struct and reads the socket 8 KiB at a time, which
// cost more client CPU than turning the values into Arrow. Here a DataRow's fields are sliced straight out of a
// 256 KiB read buffer and handed to the decoders.

const (
	wireBuffer     = 256 << 10
	maxWireMessage = 1 << 30 // PostgreSQL's own limit on a field is 1 GiB
)

// readExtended runs the SELECT with Parse/Bind/Describe/Execute/Sync, every result column in binary, and decodes
// each DataRow as it arrives. The connection is hijacked from pgx, so the caller must close it afterwards.
func (c *Consumer) readExtended(ctx context.Context, conn *pgx.Conn, src *source, params [][]byte, p stage.Partition, bt *batcher) error {
	// pgconn may still have a read in flight in its background reader (started when a write was slow), which
	// would take bytes of the result from the socket: SyncConn waits it out, as pgconn asks before a Hijack.
	if err := conn.PgConn().SyncConn(ctx); err != nil {
		return fmt.Errorf("take over the connection: %w", err)
	}
	hc, err := conn.PgConn().Hijack()
	if err != nil {
		return fmt.Errorf("take over the connection: %w", err)
	}
	nc := hc.Conn
	// A cancelled ctx unblocks a read or write in progress; Read then reports ctx's error.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	wr := wireReader{read: nc.Read, buf: make([]byte, wireBuffer)}

	formats := make([]int16, len(src.types))
	for i := range formats {
		formats[i] = 1 // binary
	}
	var msg []byte
	for _, m := range []pgproto3.FrontendMessage{
		&pgproto3.Parse{Query: src.sql},
		&pgproto3.Bind{Parameters: params, ResultFormatCodes: formats},
		&pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{},
		&pgproto3.Sync{},
	} {
		if msg, err = m.Encode(msg); err != nil {
			return fmt.Errorf("encode %T: %w", m, err)
		}
	}
	if _, err := nc.Write(msg); err != nil {
		return fmt.Errorf("send the query: %w", err)
	}
	if read, shut, ok := batchedReads(nc); ok {
		wr.read = read
		stopShut := context.AfterFunc(ctx, shut)
		defer stopShut()
		if ctx.Err() != nil {
			shut() // cancelled before the reads could be interrupted
		}
	}
	var queryErr error
	for {
		typ, body, err := wr.next()
		if err != nil {
			if queryErr != nil {
				return queryErr // the server said why before it hung up (a FATAL error, pg_terminate_backend)
			}
			return err
		}
		switch typ {
		case 'D': // DataRow
			if queryErr != nil {
				continue
			}
			if err := bt.wireRow(ctx, p, body); err != nil {
				return err
			}
		case 'T': // RowDescription: the columns must be the ones the schema was built from
			if err := checkRowDescription(body, src); err != nil {
				return &decodeError{fmt.Errorf("postgres: partition %s: %w", p.Key, err)}
			}
		case 'E': // ErrorResponse; the server skips to Sync and sends ReadyForQuery
			var er pgproto3.ErrorResponse
			if err := er.Decode(body); err != nil {
				return fmt.Errorf("malformed error response: %w", err)
			}
			queryErr = pgconn.ErrorResponseToPgError(&er)
			if er.Severity == "FATAL" || er.Severity == "PANIC" {
				return queryErr // the server closes the connection: no ReadyForQuery follows
			}
		case 'Z': // ReadyForQuery: the end
			return queryErr
		case '1', '2', 'C', 'n', 'I', 'N', 'S', 'A':
			// ParseComplete, BindComplete, CommandComplete, NoData, EmptyQueryResponse, and the asynchronous
			// NoticeResponse, ParameterStatus and NotificationResponse: nothing to do.
		default:
			return fmt.Errorf("unexpected message %q from the server", typ)
		}
	}
}

// wireRow decodes a DataRow message's fields, as they lie in body, straight into the builders, and emits a
// batch when it is full.
func (bt *batcher) wireRow(ctx context.Context, p stage.Partition, body []byte) error {
	if len(body) < 2 || int(binary.BigEndian.Uint16(body)) != len(bt.decs) {
		return bt.malformedRow(p, body)
	}
	pos := 2
	for _, d := range bt.decs {
		if len(body)-pos < 4 {
			return bt.malformedRow(p, body)
		}
		l := int(int32(binary.BigEndian.Uint32(body[pos:])))
		pos += 4
		if l < 0 {
			d.b.AppendNull()
			continue
		}
		if len(body)-pos < l {
			return bt.malformedRow(p, body)
		}
		if err := d.decode(body[pos : pos+l : pos+l]); err != nil {
			return &decodeError{fmt.Errorf("postgres: partition %s, row %d: %w", p.Key, bt.rows(), err)}
		}
		pos += l
	}
	return bt.endRow(ctx)
}

func (bt *batcher) malformedRow(p stage.Partition, body []byte) error {
	n := -1
	if len(body) >= 2 {
		n = int(binary.BigEndian.Uint16(body))
	}
	return &decodeError{fmt.Errorf("postgres: partition %s, row %d: malformed DataRow of %d bytes with %d fields, want %d", p.Key, bt.rows(), len(body), n, len(bt.decs))}
}

// checkRowDescription compares the result's column types with the ones the decoders were made for, so a table
// altered since the schema was read fails clearly instead of being decoded as the wrong type.
func checkRowDescription(body []byte, src *source) error {
	var rd pgproto3.RowDescription
	if err := rd.Decode(body); err != nil {
		return fmt.Errorf("malformed RowDescription: %w", err)
	}
	if len(rd.Fields) != len(src.types) {
		return fmt.Errorf("the query returns %d columns, but the schema read at the start has %d; did the table change during the run?", len(rd.Fields), len(src.types))
	}
	for i, f := range rd.Fields {
		if t := src.types[i]; f.DataTypeOID != t.oid {
			return fmt.Errorf("column %q has type OID %d, but the schema read at the start has %d (%s); did the table change during the run?", src.names[i], f.DataTypeOID, t.oid, t.name)
		}
	}
	return nil
}

// wireReader reads backend messages from the socket through one large buffer. A message's body is valid until
// the next call.
type wireReader struct {
	read func([]byte) (int, error) // the connection's Read, or batchedReads'
	buf  []byte
	r, w int
}

func (wr *wireReader) next() (typ byte, body []byte, err error) {
	if err := wr.fill(5); err != nil {
		return 0, nil, err
	}
	typ = wr.buf[wr.r]
	n := int(binary.BigEndian.Uint32(wr.buf[wr.r+1:]))
	if n < 4 || n > maxWireMessage {
		return 0, nil, fmt.Errorf("malformed message %q of %d bytes from the server", typ, n)
	}
	if err := wr.fill(1 + n); err != nil {
		return 0, nil, err
	}
	body = wr.buf[wr.r+5 : wr.r+1+n]
	wr.r += 1 + n
	return typ, body, nil
}

// fill makes at least n unread bytes available in buf[r:w].
func (wr *wireReader) fill(n int) error {
	if wr.w-wr.r >= n {
		return nil
	}
	if len(wr.buf)-wr.r < n {
		// Move what is unread to the front, growing the buffer for a message larger than it.
		buf := wr.buf
		if len(buf) < n {
			buf = make([]byte, max(n, 2*len(buf)))
		}
		wr.w = copy(buf, wr.buf[wr.r:wr.w])
		wr.r, wr.buf = 0, buf
	}
	for wr.w-wr.r < n {
		m, err := wr.read(wr.buf[wr.w:])
		wr.w += m
		if err != nil {
			if wr.w-wr.r >= n {
				return nil
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("connection lost mid-result: %w", err)
		}
	}
	return nil
}
