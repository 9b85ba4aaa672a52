package clickhouse

import (
	"errors"
	"fmt"
	"io"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/consumers/internal/sqlsource"
)

// blockResult implements ch-go's proto.Result: ch-go reads the packet framing and decompresses, and calls
// DecodeResult with the reader positioned on a block's columns, which the nodes decode straight into Arrow
// buffers. The first block (the header, no rows) fixes the columns and their types.
type blockResult struct {
	mem    memory.Allocator
	names  []string
	types  []string
	nodes  []node
	schema *arrow.Schema
	arrs   []arrow.Array
	strBuf []byte // scratch for column names and types
}

// maxNameLen bounds a column name or type read from a block: ch-go's Reader.Str allocates whatever length the
// stream declares before reading it, and no real name or type comes near this.
const maxNameLen = 1 << 20

func readStr(r *proto.Reader, scratch *[]byte) (string, error) {
	n, err := r.StrLen()
	if err != nil {
		return "", err
	}
	if n > maxNameLen {
		return "", fmt.Errorf("declared length %d is over %d bytes (a corrupt stream?)", n, maxNameLen)
	}
	b, err := readScratch(r, scratch, n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func newBlockResult(mem memory.Allocator) *blockResult { return &blockResult{mem: mem} }

var _ proto.Result = (*blockResult)(nil)

// DecodeResult reads one block's columns: name, type, then the values when the block has rows.
func (b *blockResult) DecodeResult(r *proto.Reader, version int, blk proto.Block) error {
	first := b.schema == nil
	if !first && blk.Columns != len(b.nodes) {
		return fmt.Errorf("a block of %d columns after a header of %d", blk.Columns, len(b.nodes))
	}
	for i := 0; i < blk.Columns; i++ {
		name, err := readStr(r, &b.strBuf)
		if err != nil {
			return fmt.Errorf("column %d name: %w", i, err)
		}
		typ, err := readStr(r, &b.strBuf)
		if err != nil {
			return fmt.Errorf("column %q type: %w", name, err)
		}
		if proto.FeatureCustomSerialization.In(version) {
			custom, err := r.Bool()
			if err != nil {
				return fmt.Errorf("column %q serialization: %w", name, err)
			}
			if custom {
				// Sparse serialization; servers only send it to clients that ask for it.
				return columnErr(name, typ, "custom (sparse) serialization is not supported")
			}
		}
		if first {
			n, err := newNode(b.mem, name, typ)
			if err != nil {
				return err
			}
			b.names, b.types, b.nodes = append(b.names, name), append(b.types, typ), append(b.nodes, n)
		} else if name != b.names[i] || typ != b.types[i] {
			return fmt.Errorf("column %d is %s %s in this block, %s %s in the header", i, name, typ, b.names[i], b.types[i])
		}
		if blk.Rows == 0 {
			continue
		}
		if err := b.nodes[i].decodeState(r); err != nil {
			return columnErr(name, typ, "%v", err)
		}
		if err := b.nodes[i].decode(r, blk.Rows); err != nil {
			return columnErr(name, typ, "%v", err)
		}
	}
	if first {
		fields := make([]arrow.Field, len(b.nodes))
		for i, n := range b.nodes {
			fields[i] = arrow.Field{Name: b.names[i], Type: n.dataType(), Nullable: isNullable(n)}
		}
		b.schema = arrow.NewSchema(fields, nil)
		b.arrs = make([]arrow.Array, len(b.nodes))
	}
	return nil
}

// emit hands the decoded block over to out as a batch of rows, and releases it when out returns.
func (b *blockResult) emit(rows int, out func(arrow.RecordBatch) error) error {
	for i, n := range b.nodes {
		d := n.finish()
		b.arrs[i] = array.MakeFromData(d)
		d.Release()
	}
	return sqlsource.Emit(b.schema, b.arrs, rows, out)
}

// release drops anything decoded and not handed over, and what the nodes hold (enum dictionaries).
func (b *blockResult) release() {
	for _, n := range b.nodes {
		n.release()
	}
}

// decodeNative decodes a stream of Native-format blocks (the output of `SELECT ... FORMAT Native`, protocol
// revision 0: no block info, no serialization flags) through the same nodes as a query's result, calling out
// with each block's batch.
func decodeNative(mem memory.Allocator, r io.Reader, out func(arrow.RecordBatch) error) (*arrow.Schema, error) {
	res := newBlockResult(mem)
	defer res.release()
	pr := proto.NewReader(r)
	for {
		var blk proto.Block
		if err := blk.DecodeRawBlock(pr, 0, res); err != nil {
			if errors.Is(err, io.EOF) {
				return res.schema, nil
			}
			return res.schema, err
		}
		if blk.Rows == 0 {
			continue
		}
		if err := res.emit(blk.Rows, out); err != nil {
			return res.schema, err
		}
	}
}
