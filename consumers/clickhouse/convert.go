package clickhouse

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A node decodes one ClickHouse column of a Native block, read through ch-go's proto.Reader (which handles the
// connection's buffering and block decompression), straight into Arrow buffers: fixed-width values are read
// into the Arrow value buffer itself, so they are never copied after the socket read; strings are read into one
// data buffer with offsets built alongside. Types whose Arrow layout differs (Date, DateTime, Decimal32/64, Bool,
// Enum, LowCardinality keys) are read into a scratch buffer reused from block to block and converted in one
// typed loop over the column. Nothing is allocated per row and no value goes through an interface.
//
// The byte layouts assume a little-endian machine, as ClickHouse's Native format is (amd64, arm64).
type node interface {
	dataType() arrow.DataType
	// decodeState reads the column's serialization prefix (LowCardinality's key version), once per block.
	decodeState(r *proto.Reader) error
	// decode reads rows values.
	decode(r *proto.Reader, rows int) error
	// finish hands what decode read over to an Arrow array's data; the node keeps no reference to it.
	finish() arrow.ArrayData
	// release drops what decode read and was not finished (after an error), and anything the node holds.
	release()
}

// columnError is an error about one column: a type that is not supported, or a block that does not decode.
type columnError struct{ msg string }

func (e *columnError) Error() string { return e.msg }

// columnErr names the column and its ClickHouse type.
func columnErr(name, typ string, format string, args ...any) error {
	return &columnError{fmt.Sprintf("column %q (%s): %s", name, typ, fmt.Sprintf(format, args...))}
}

// newNode builds the node of a ClickHouse type; name is the column's, for errors.
func newNode(mem memory.Allocator, name, typ string) (node, error) {
	t, err := parseType(typ)
	if err != nil {
		return nil, columnErr(name, typ, "%v", err)
	}
	if mk, ok := plainNodes[t.name]; ok && len(t.args) == 0 {
		return mk(mem), nil
	}
	fixed := func(dt arrow.FixedWidthDataType) (node, error) { return fixedOf(dt)(mem), nil }
	switch t.name {
	case "FixedString":
		if len(t.args) != 1 {
			break
		}
		n, err := strconv.Atoi(t.args[0])
		if err != nil || n <= 0 {
			return nil, columnErr(name, typ, "bad length %q", t.args[0])
		}
		return fixed(&arrow.FixedSizeBinaryType{ByteWidth: n})
	case "DateTime":
		tz := "UTC"
		if len(t.args) == 1 {
			if tz, err = unquote(t.args[0]); err != nil {
				return nil, columnErr(name, typ, "%v", err)
			}
		} else if len(t.args) > 1 {
			break
		}
		return &widenNode{mem: mem, dt: &arrow.TimestampType{Unit: arrow.Second, TimeZone: tz}, in: 4, conv: u32ToI64}, nil
	case "DateTime64":
		if len(t.args) < 1 || len(t.args) > 2 {
			break
		}
		p, err := strconv.Atoi(t.args[0])
		if err != nil || p < 0 || p > 9 {
			return nil, columnErr(name, typ, "bad precision %q", t.args[0])
		}
		tz := "UTC"
		if len(t.args) == 2 {
			if tz, err = unquote(t.args[1]); err != nil {
				return nil, columnErr(name, typ, "%v", err)
			}
		}
		units := []arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond, arrow.Nanosecond}
		unit := units[(p+2)/3]
		dt := &arrow.TimestampType{Unit: unit, TimeZone: tz}
		if p%3 == 0 {
			return fixed(dt)
		}
		// DateTime64(1) and the like: scale up to the next Arrow unit.
		return &widenNode{mem: mem, dt: dt, in: 8, conv: scaleI64(int64(math.Pow10(3 - p%3)))}, nil
	case "Decimal", "Decimal32", "Decimal64", "Decimal128", "Decimal256":
		return decimalNode(mem, name, t)
	case "Enum8", "Enum16":
		return newEnumNode(mem, name, t)
	case "Nullable":
		if len(t.args) != 1 {
			break
		}
		in, err := newNode(mem, name, t.args[0])
		if err != nil {
			return nil, err
		}
		if e, ok := in.(*enumNode); ok {
			e.underNull = true
		}
		return &nullableNode{mem: mem, inner: in}, nil
	case "LowCardinality":
		if len(t.args) != 1 {
			break
		}
		return newLowCardNode(mem, name, t.args[0])
	case "Array":
		if len(t.args) != 1 {
			break
		}
		in, err := newNode(mem, name, t.args[0])
		if err != nil {
			return nil, err
		}
		return &arrayNode{mem: mem, elem: in, dt: arrow.ListOfField(arrow.Field{Name: "item", Type: in.dataType(), Nullable: isNullable(in)})}, nil
	case "Map":
		if len(t.args) != 2 {
			break
		}
		k, err := newNode(mem, name, t.args[0])
		if err != nil {
			return nil, err
		}
		v, err := newNode(mem, name, t.args[1])
		if err != nil {
			k.release()
			return nil, err
		}
		dt := arrow.MapOf(k.dataType(), v.dataType())
		return &mapNode{arrayNode: arrayNode{mem: mem, dt: dt}, key: k, val: v}, nil
	case "Tuple":
		if len(t.args) == 0 {
			break
		}
		tn := &tupleNode{}
		fields := make([]arrow.Field, len(t.args))
		for i, a := range t.args {
			fname, ftyp, err := tupleElement(a)
			if err != nil {
				tn.release()
				return nil, columnErr(name, typ, "%v", err)
			}
			if fname == "" {
				fname = strconv.Itoa(i + 1) // ClickHouse's own name for an unnamed element (t.1)
			}
			in, err := newNode(mem, name, ftyp)
			if err != nil {
				tn.release()
				return nil, err
			}
			tn.elems = append(tn.elems, in)
			fields[i] = arrow.Field{Name: fname, Type: in.dataType(), Nullable: isNullable(in)}
		}
		tn.dt = arrow.StructOf(fields...)
		return tn, nil
	}
	return nil, columnErr(name, typ, "type not supported; see the type table in consumers/clickhouse/README.md "+
		"(CAST the column in a query: to one that is, e.g. toString(x))")
}

// plainNodes builds the node of each type that takes no arguments.
var plainNodes = map[string]func(mem memory.Allocator) node{
	"Int8": fixedOf(&arrow.Int8Type{}), "UInt8": fixedOf(&arrow.Uint8Type{}),
	"Int16": fixedOf(&arrow.Int16Type{}), "UInt16": fixedOf(&arrow.Uint16Type{}),
	"Int32": fixedOf(&arrow.Int32Type{}), "UInt32": fixedOf(&arrow.Uint32Type{}),
	"Int64": fixedOf(&arrow.Int64Type{}), "UInt64": fixedOf(&arrow.Uint64Type{}),
	"Float32": fixedOf(&arrow.Float32Type{}), "Float64": fixedOf(&arrow.Float64Type{}),
	// Widened: Int128 reaches 39 digits, one more than decimal128 declares.
	"Int128":  widenOf(&arrow.Decimal256Type{Precision: 39, Scale: 0}, 16, i128ToDec256),
	"UInt128": widenOf(&arrow.Decimal256Type{Precision: 39, Scale: 0}, 16, u128ToDec256),
	"Int256":  fixedOf(&arrow.Decimal256Type{Precision: 76, Scale: 0}),
	"UInt256": fixedOf(&arrow.FixedSizeBinaryType{ByteWidth: 32}),
	"Bool":    func(mem memory.Allocator) node { return &boolNode{mem: mem} },
	"String":  func(mem memory.Allocator) node { return &stringNode{mem: mem} },
	"UUID": func(mem memory.Allocator) node {
		// The arrow.uuid extension (on fixed_size_binary[16]) is what tells the loaders the bytes are a UUID.
		return &uuidNode{fixedNode{mem: mem, dt: extensions.NewUUIDType(), width: 16}}
	},
	"Date":    widenOf(arrow.FixedWidthTypes.Date32, 2, dateToDate32),
	"Date32":  fixedOf(arrow.FixedWidthTypes.Date32),
	"IPv4":    func(mem memory.Allocator) node { return &ipNode{stringNode: stringNode{mem: mem}, width: 4} },
	"IPv6":    func(mem memory.Allocator) node { return &ipNode{stringNode: stringNode{mem: mem}, width: 16} },
	"Nothing": func(mem memory.Allocator) node { return &nothingNode{mem: mem} },
}

// fixedOf makes nodes whose values are dt's fixed-width values as they are on the wire.
func fixedOf(dt arrow.FixedWidthDataType) func(memory.Allocator) node {
	return func(mem memory.Allocator) node { return &fixedNode{mem: mem, dt: dt, width: dt.BitWidth() / 8} }
}

// widenOf makes nodes that convert in-byte wire values into dt's with conv.
func widenOf(dt arrow.FixedWidthDataType, in int, conv func(dst, src []byte)) func(memory.Allocator) node {
	return func(mem memory.Allocator) node { return &widenNode{mem: mem, dt: dt, in: in, conv: conv} }
}

// isNullable says whether a node's Arrow values can be null.
func isNullable(n node) bool {
	switch x := n.(type) {
	case *nullableNode, *nothingNode:
		return true
	case *lowCardNode:
		return x.nullable
	}
	return false
}

// newBuffer allocates a buffer of n bytes.
func newBuffer(mem memory.Allocator, n int) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(n)
	return b
}

// readChunk is how much memory a read sized by a count from the stream may take before that many bytes have
// arrived: a corrupt or hostile stream declaring 10^8 rows of a wide type then gets an error at its end, not an
// allocation of gigabytes. Real blocks of that size still decode: their buffers grow as the bytes arrive.
const readChunk = 1 << 20

// readScratch reads n bytes into a scratch slice reused from block to block.
func readScratch(r *proto.Reader, scratch *[]byte, n int) ([]byte, error) {
	if cap(*scratch) >= n {
		b := (*scratch)[:n]
		return b, r.ReadFull(b)
	}
	b := (*scratch)[:0]
	for len(b) < n {
		k := min(n-len(b), max(readChunk, len(b)))
		b = append(b, make([]byte, k)...)
		if err := r.ReadFull(b[len(b)-k:]); err != nil {
			*scratch = b[:0]
			return nil, fmt.Errorf("%w after %d of %d bytes", err, len(b)-k, n)
		}
	}
	*scratch = b
	return b, nil
}

// readBuffer reads n bytes into a new buffer, grown as they arrive (see readChunk).
func readBuffer(mem memory.Allocator, r *proto.Reader, n int) (*memory.Buffer, error) {
	b := memory.NewResizableBuffer(mem)
	b.Resize(min(n, readChunk))
	if err := r.ReadFull(b.Bytes()); err != nil {
		b.Release()
		return nil, err
	}
	for got := b.Len(); got < n; got = b.Len() {
		b.Resize(got + min(n-got, max(readChunk, got)))
		if err := r.ReadFull(b.Bytes()[got:]); err != nil {
			b.Release()
			return nil, fmt.Errorf("%w after %d of %d bytes", err, got, n)
		}
	}
	return b, nil
}

func releaseBuf(b **memory.Buffer) {
	if *b != nil {
		(*b).Release()
		*b = nil
	}
}

// fixedNode reads values whose Native layout is the Arrow layout straight into the Arrow value buffer.
type fixedNode struct {
	mem   memory.Allocator
	dt    arrow.DataType
	width int
	buf   *memory.Buffer
	rows  int
}

func (n *fixedNode) dataType() arrow.DataType          { return n.dt }
func (n *fixedNode) decodeState(r *proto.Reader) error { return nil }
func (n *fixedNode) decode(r *proto.Reader, rows int) error {
	buf, err := readBuffer(n.mem, r, rows*n.width)
	if err != nil {
		return err
	}
	n.buf, n.rows = buf, rows
	return nil
}
func (n *fixedNode) finish() arrow.ArrayData {
	d := array.NewData(n.dt, n.rows, []*memory.Buffer{nil, n.buf}, nil, 0, 0)
	releaseBuf(&n.buf)
	return d
}
func (n *fixedNode) release() { releaseBuf(&n.buf) }

// uuidNode: ClickHouse sends a UUID as two little-endian 64-bit halves; Arrow (and RFC 4122) want big-endian
// bytes, so each half is byte-swapped in place.
type uuidNode struct{ fixedNode }

func (n *uuidNode) decode(r *proto.Reader, rows int) error {
	if err := n.fixedNode.decode(r, rows); err != nil {
		return err
	}
	b := n.buf.Bytes()
	for i := 0; i+8 <= len(b); i += 8 {
		binary.BigEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:]))
	}
	return nil
}

// widenNode reads values of in bytes and converts them, in one loop, to the Arrow type's width.
type widenNode struct {
	mem     memory.Allocator
	dt      arrow.FixedWidthDataType
	in      int
	conv    func(dst, src []byte)
	scratch []byte
	buf     *memory.Buffer
	rows    int
}

func (n *widenNode) dataType() arrow.DataType          { return n.dt }
func (n *widenNode) decodeState(r *proto.Reader) error { return nil }
func (n *widenNode) decode(r *proto.Reader, rows int) error {
	src, err := readScratch(r, &n.scratch, rows*n.in)
	if err != nil {
		return err
	}
	n.buf, n.rows = newBuffer(n.mem, rows*n.dt.BitWidth()/8), rows
	n.conv(n.buf.Bytes(), src)
	return nil
}
func (n *widenNode) finish() arrow.ArrayData {
	d := array.NewData(n.dt, n.rows, []*memory.Buffer{nil, n.buf}, nil, 0, 0)
	releaseBuf(&n.buf)
	return d
}
func (n *widenNode) release() { releaseBuf(&n.buf) }

// view reinterprets a byte slice as a slice of T (the buffers are allocated aligned for their width).
func view[T any](b []byte) []T {
	var z T
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/int(unsafe.Sizeof(z)))
}

func dateToDate32(dst, src []byte) {
	d, s := view[int32](dst), view[uint16](src)
	for i, v := range s {
		d[i] = int32(v)
	}
}

func u32ToI64(dst, src []byte) {
	d, s := view[int64](dst), view[uint32](src)
	for i, v := range s {
		d[i] = int64(v)
	}
}

func scaleI64(f int64) func(dst, src []byte) {
	return func(dst, src []byte) {
		d, s := view[int64](dst), view[int64](src)
		for i, v := range s {
			d[i] = v * f
		}
	}
}

func i32ToDec128(dst, src []byte) {
	d, s := view[uint64](dst), view[int32](src)
	for i, v := range s {
		d[2*i], d[2*i+1] = uint64(int64(v)), uint64(int64(v)>>63)
	}
}

func i64ToDec128(dst, src []byte) {
	d, s := view[uint64](dst), view[int64](src)
	for i, v := range s {
		d[2*i], d[2*i+1] = uint64(v), uint64(v>>63)
	}
}

func i128ToDec256(dst, src []byte) {
	d, s := view[uint64](dst), view[uint64](src)
	for i := 0; i < len(s)/2; i++ {
		hi := s[2*i+1]
		d[4*i], d[4*i+1], d[4*i+2], d[4*i+3] = s[2*i], hi, uint64(int64(hi)>>63), uint64(int64(hi)>>63)
	}
}

func u128ToDec256(dst, src []byte) {
	d, s := view[uint64](dst), view[uint64](src)
	for i := 0; i < len(s)/2; i++ {
		d[4*i], d[4*i+1], d[4*i+2], d[4*i+3] = s[2*i], s[2*i+1], 0, 0
	}
}

// decimalNode maps Decimal(P, S) and Decimal32/64/128/256(S): precision up to 38 to decimal128(P, S), above to
// decimal256(P, S). The Native width follows the precision (9, 18, 38, 76 digits at most).
func decimalNode(mem memory.Allocator, name string, t chType) (node, error) {
	var p, s int
	var err1, err2 error
	switch t.name {
	case "Decimal":
		if len(t.args) != 2 {
			return nil, columnErr(name, t.text, "want Decimal(P, S)")
		}
		p, err1 = strconv.Atoi(t.args[0])
		s, err2 = strconv.Atoi(t.args[1])
	default:
		if len(t.args) != 1 {
			return nil, columnErr(name, t.text, "want %s(S)", t.name)
		}
		p = map[string]int{"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}[t.name]
		s, err1 = strconv.Atoi(t.args[0])
	}
	if err1 != nil || err2 != nil || p < 1 || p > 76 || s < 0 || s > p {
		return nil, columnErr(name, t.text, "bad precision or scale")
	}
	d128 := &arrow.Decimal128Type{Precision: int32(p), Scale: int32(s)}
	d256 := &arrow.Decimal256Type{Precision: int32(p), Scale: int32(s)}
	switch {
	case p <= 9:
		return &widenNode{mem: mem, dt: d128, in: 4, conv: i32ToDec128}, nil
	case p <= 18:
		return &widenNode{mem: mem, dt: d128, in: 8, conv: i64ToDec128}, nil
	case p <= 38:
		return &fixedNode{mem: mem, dt: d128, width: 16}, nil
	}
	return &fixedNode{mem: mem, dt: d256, width: 32}, nil
}

// boolNode packs Native's one byte per value into Arrow's bitmap.
type boolNode struct {
	mem     memory.Allocator
	scratch []byte
	buf     *memory.Buffer
	rows    int
}

func (n *boolNode) dataType() arrow.DataType          { return arrow.FixedWidthTypes.Boolean }
func (n *boolNode) decodeState(r *proto.Reader) error { return nil }
func (n *boolNode) decode(r *proto.Reader, rows int) error {
	src, err := readScratch(r, &n.scratch, rows)
	if err != nil {
		return err
	}
	n.buf, n.rows = newBuffer(n.mem, int(bitutil.BytesForBits(int64(rows)))), rows
	packBits(n.buf.Bytes(), src, 0)
	return nil
}
func (n *boolNode) finish() arrow.ArrayData {
	d := array.NewData(arrow.FixedWidthTypes.Boolean, n.rows, []*memory.Buffer{nil, n.buf}, nil, 0, 0)
	releaseBuf(&n.buf)
	return d
}
func (n *boolNode) release() { releaseBuf(&n.buf) }

// packBits sets bit i of dst when src[i] != zero (zero 0: values; zero 1: a null map, where 0 means valid), and
// returns how many bits stayed clear.
func packBits(dst, src []byte, zero byte) int {
	clear(dst)
	unset := 0
	for i, v := range src {
		if (v != 0) != (zero != 0) {
			dst[i>>3] |= 1 << (i & 7)
		} else {
			unset++
		}
	}
	return unset
}

// stringNode reads String values into one Arrow data buffer and builds the offsets alongside.
type stringNode struct {
	mem      memory.Allocator
	offsets  *memory.Buffer
	data     *memory.Buffer
	rows     int
	lastData int // bytes of the previous block: the first guess for the next one
	one      [1]byte
}

func (n *stringNode) dataType() arrow.DataType          { return arrow.BinaryTypes.String }
func (n *stringNode) decodeState(r *proto.Reader) error { return nil }
func (n *stringNode) decode(r *proto.Reader, rows int) error {
	// Every string takes at least its length's byte, so the offsets grow with the strings read rather than by
	// the declared row count (see readChunk).
	n.offsets, n.rows = newBuffer(n.mem, (min(rows, readChunk/4)+1)*4), rows
	off := view[int32](n.offsets.Bytes())
	n.data = memory.NewResizableBuffer(n.mem)
	n.data.Reserve(max(n.lastData, min(rows*8, readChunk)))
	data := n.data.Buf()[:n.data.Cap()]
	pos := 0
	off[0] = 0
	for i := 0; i < rows; i++ {
		if i+1 == len(off) {
			n.offsets.Resize(min(rows+1, 2*len(off)) * 4)
			off = view[int32](n.offsets.Bytes())
		}
		l, err := readUvarint(r, n.one[:])
		if err != nil {
			return fmt.Errorf("row %d: string length: %w", i, err)
		}
		end := pos + int(l)
		if l > math.MaxInt32 || end > math.MaxInt32 {
			return fmt.Errorf("more than 2 GiB of strings in one block: lower block_rows")
		}
		for pos < end { // a long string is read a chunk at a time, so its declared length allocates nothing ahead
			if pos == len(data) {
				n.data.ResizeNoShrink(pos)
				n.data.Reserve(max(min(end, pos+readChunk), 2*len(data)))
				data = n.data.Buf()[:n.data.Cap()]
			}
			k := min(end, len(data))
			if err := readFull(r, data[pos:k]); err != nil {
				return fmt.Errorf("row %d: %w", i, err)
			}
			pos = k
		}
		off[i+1] = int32(pos)
	}
	n.data.ResizeNoShrink(pos)
	n.lastData = pos
	return nil
}

// readFull and readUvarint read through proto.Reader.Read, which goes straight to the buffered (or
// decompressing) source: a string's length and bytes cost two calls instead of the dozen of
// proto.Reader.StrLen/ReadFull (io.ReadFull, a byte-at-a-time varint through an internal buffer), which made
// most of the time of a string column.
func readFull(r *proto.Reader, p []byte) error {
	for len(p) > 0 {
		n, err := r.Read(p)
		p = p[n:]
		if len(p) > 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readUvarint reads a LEB128 varint a byte at a time into b (a one-byte slice of the caller's: a local array
// would escape to the heap through the io.Reader call, an allocation per string).
func readUvarint(r *proto.Reader, b []byte) (uint64, error) {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if err := readFull(r, b); err != nil {
			return 0, err
		}
		if b[0] < 0x80 {
			return x | uint64(b[0])<<shift, nil
		}
		x |= uint64(b[0]&0x7f) << shift
	}
	return 0, fmt.Errorf("varint overflows 64 bits")
}

func (n *stringNode) finish() arrow.ArrayData {
	d := array.NewData(arrow.BinaryTypes.String, n.rows, []*memory.Buffer{nil, n.offsets, n.data}, nil, 0, 0)
	releaseBuf(&n.offsets)
	releaseBuf(&n.data)
	return d
}
func (n *stringNode) release() {
	releaseBuf(&n.offsets)
	releaseBuf(&n.data)
}

// ipNode renders IPv4 (a little-endian UInt32) and IPv6 (16 bytes, network order) as text, as ClickHouse's
// toString does.
type ipNode struct {
	stringNode
	width   int
	scratch []byte
}

func (n *ipNode) decode(r *proto.Reader, rows int) error {
	src, err := readScratch(r, &n.scratch, rows*n.width)
	if err != nil {
		return err
	}
	n.offsets, n.rows = newBuffer(n.mem, (rows+1)*4), rows
	off := view[int32](n.offsets.Bytes())
	n.data = memory.NewResizableBuffer(n.mem)
	n.data.Reserve(rows * (n.width*2 + 8)) // "255.255.255.255" is 15 bytes; a full IPv6 text 39
	data := n.data.Buf()[:0:n.data.Cap()]
	if n.width == 4 {
		for i, v := range view[uint32](src) {
			data = strconv.AppendUint(data, uint64(v>>24), 10)
			data = append(data, '.')
			data = strconv.AppendUint(data, uint64(v>>16&0xff), 10)
			data = append(data, '.')
			data = strconv.AppendUint(data, uint64(v>>8&0xff), 10)
			data = append(data, '.')
			data = strconv.AppendUint(data, uint64(v&0xff), 10)
			off[i+1] = int32(len(data))
		}
	} else {
		for i := 0; i < rows; i++ {
			data = netip.AddrFrom16([16]byte(src[16*i:])).AppendTo(data)
			off[i+1] = int32(len(data))
		}
	}
	if cap(data) > n.data.Cap() { // outgrew the reservation (never for IPv4)
		n.data.Reserve(len(data))
	}
	copy(n.data.Buf()[:len(data)], data)
	n.data.ResizeNoShrink(len(data))
	return nil
}

// nothingNode is the type of a bare NULL (Nullable(Nothing)): one placeholder byte per row, Arrow null.
type nothingNode struct {
	mem     memory.Allocator
	scratch []byte
	rows    int
}

func (n *nothingNode) dataType() arrow.DataType          { return arrow.Null }
func (n *nothingNode) decodeState(r *proto.Reader) error { return nil }
func (n *nothingNode) decode(r *proto.Reader, rows int) error {
	n.rows = rows
	_, err := readScratch(r, &n.scratch, rows)
	return err
}
func (n *nothingNode) finish() arrow.ArrayData {
	return array.NewData(arrow.Null, n.rows, []*memory.Buffer{nil}, nil, n.rows, 0)
}
func (n *nothingNode) release() {}

// nullableNode reads the null map (a byte per row, 1 for null) and then the inner values, which exist for null
// rows too; the map becomes the Arrow validity bitmap of the inner array.
type nullableNode struct {
	mem     memory.Allocator
	inner   node
	scratch []byte
	bitmap  *memory.Buffer
	nulls   int
}

func (n *nullableNode) dataType() arrow.DataType          { return n.inner.dataType() }
func (n *nullableNode) decodeState(r *proto.Reader) error { return n.inner.decodeState(r) }
func (n *nullableNode) decode(r *proto.Reader, rows int) error {
	nm, err := readScratch(r, &n.scratch, rows)
	if err != nil {
		return err
	}
	if _, null := n.inner.(*nothingNode); !null {
		n.bitmap = newBuffer(n.mem, int(bitutil.BytesForBits(int64(rows))))
		n.nulls = packBits(n.bitmap.Bytes(), nm, 1)
	}
	return n.inner.decode(r, rows)
}
func (n *nullableNode) finish() arrow.ArrayData {
	in := n.inner.finish()
	if n.bitmap == nil { // Nullable(Nothing)
		return in
	}
	d := withValidity(in, n.bitmap, n.nulls)
	in.Release()
	releaseBuf(&n.bitmap)
	return d
}
func (n *nullableNode) release() {
	releaseBuf(&n.bitmap)
	n.inner.release()
}

// withValidity returns d with a validity bitmap.
func withValidity(d arrow.ArrayData, bitmap *memory.Buffer, nulls int) arrow.ArrayData {
	bufs := append([]*memory.Buffer{bitmap}, d.Buffers()[1:]...)
	if dict := d.Dictionary(); dict != nil {
		return array.NewDataWithDictionary(d.DataType(), d.Len(), bufs, nulls, 0, dict.(*array.Data))
	}
	return array.NewData(d.DataType(), d.Len(), bufs, d.Children(), nulls, 0)
}

// arrayNode reads Array(T): cumulative end offsets (UInt64 per row), then all the elements as one column.
type arrayNode struct {
	mem     memory.Allocator
	dt      arrow.DataType
	elem    node
	scratch []byte
	offsets *memory.Buffer
	rows    int
}

func (n *arrayNode) dataType() arrow.DataType          { return n.dt }
func (n *arrayNode) decodeState(r *proto.Reader) error { return n.elem.decodeState(r) }

// readOffsets reads the row ends and converts them to Arrow's int32 offsets; it returns the element count.
func (n *arrayNode) readOffsets(r *proto.Reader, rows int) (int, error) {
	src, err := readScratch(r, &n.scratch, rows*8)
	if err != nil {
		return 0, err
	}
	n.offsets, n.rows = newBuffer(n.mem, (rows+1)*4), rows
	off := view[int32](n.offsets.Bytes())
	off[0] = 0
	prev := uint64(0)
	for i, end := range view[uint64](src) {
		if end < prev || end > math.MaxInt32 {
			return 0, fmt.Errorf("array offsets: %d after %d (corrupt block, or more than 2^31 elements in one block: lower block_rows)", end, prev)
		}
		off[i+1] = int32(end)
		prev = end
	}
	return int(prev), nil
}

func (n *arrayNode) decode(r *proto.Reader, rows int) error {
	total, err := n.readOffsets(r, rows)
	if err != nil {
		return err
	}
	return n.elem.decode(r, total)
}
func (n *arrayNode) finish() arrow.ArrayData {
	child := n.elem.finish()
	d := array.NewData(n.dt, n.rows, []*memory.Buffer{nil, n.offsets}, []arrow.ArrayData{child}, 0, 0)
	child.Release()
	releaseBuf(&n.offsets)
	return d
}
func (n *arrayNode) release() {
	releaseBuf(&n.offsets)
	if n.elem != nil {
		n.elem.release()
	}
}

// mapNode reads Map(K, V), serialized as Array(Tuple(K, V)): offsets, all keys, all values.
type mapNode struct {
	arrayNode
	key, val node
}

func (n *mapNode) decodeState(r *proto.Reader) error {
	if err := n.key.decodeState(r); err != nil {
		return err
	}
	return n.val.decodeState(r)
}
func (n *mapNode) decode(r *proto.Reader, rows int) error {
	total, err := n.readOffsets(r, rows)
	if err != nil {
		return err
	}
	if err := n.key.decode(r, total); err != nil {
		return fmt.Errorf("map keys: %w", err)
	}
	if err := n.val.decode(r, total); err != nil {
		return fmt.Errorf("map values: %w", err)
	}
	return nil
}
func (n *mapNode) finish() arrow.ArrayData {
	k, v := n.key.finish(), n.val.finish()
	entries := array.NewData(n.dt.(*arrow.MapType).Elem(), k.Len(), []*memory.Buffer{nil}, []arrow.ArrayData{k, v}, 0, 0)
	k.Release()
	v.Release()
	d := array.NewData(n.dt, n.rows, []*memory.Buffer{nil, n.offsets}, []arrow.ArrayData{entries}, 0, 0)
	entries.Release()
	releaseBuf(&n.offsets)
	return d
}
func (n *mapNode) release() {
	releaseBuf(&n.offsets)
	n.key.release()
	n.val.release()
}

// tupleNode reads Tuple(T1, T2, ...): each element as a column of its own, in order; Arrow struct.
type tupleNode struct {
	dt    arrow.DataType
	elems []node
	rows  int
}

func (n *tupleNode) dataType() arrow.DataType { return n.dt }
func (n *tupleNode) decodeState(r *proto.Reader) error {
	for _, e := range n.elems {
		if err := e.decodeState(r); err != nil {
			return err
		}
	}
	return nil
}
func (n *tupleNode) decode(r *proto.Reader, rows int) error {
	n.rows = rows
	for i, e := range n.elems {
		if err := e.decode(r, rows); err != nil {
			return fmt.Errorf("tuple element %d: %w", i+1, err)
		}
	}
	return nil
}
func (n *tupleNode) finish() arrow.ArrayData {
	children := make([]arrow.ArrayData, len(n.elems))
	for i, e := range n.elems {
		children[i] = e.finish()
	}
	d := array.NewData(n.dt, n.rows, []*memory.Buffer{nil}, children, 0, 0)
	for _, c := range children {
		c.Release()
	}
	return d
}
func (n *tupleNode) release() {
	for _, e := range n.elems {
		e.release()
	}
}

// enumNode maps Enum8/Enum16 values to indices of a dictionary of the enum's names, fixed by the type, so every
// batch shares one dictionary: dictionary<int32, string>.
type enumNode struct {
	mem     memory.Allocator
	dt      *arrow.DictionaryType
	width   int     // 1 or 2
	index   []int32 // value - min → dictionary index, -1 for a value not in the type
	min     int
	dict    arrow.ArrayData
	scratch []byte
	buf     *memory.Buffer
	rows    int
	// underNull: inside Nullable, where null rows hold 0, which need not be one of the enum's values.
	underNull bool
}

func newEnumNode(mem memory.Allocator, name string, t chType) (node, error) {
	names, values, err := enumValues(t.args)
	if err != nil {
		return nil, columnErr(name, t.text, "%v", err)
	}
	n := &enumNode{mem: mem, dt: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, width: 1, min: math.MinInt8}
	size := 256
	if t.name == "Enum16" {
		n.width, n.min, size = 2, math.MinInt16, 65536
	}
	n.index = make([]int32, size)
	for i := range n.index {
		n.index[i] = -1
	}
	if p, ok := mem.(*pool); ok {
		mem = p.base // a builder may count on zeroed memory; the dictionary is made once
	}
	b := array.NewStringBuilder(mem)
	defer b.Release()
	for i, v := range values {
		if v-n.min < 0 || v-n.min >= size {
			return nil, columnErr(name, t.text, "value %d out of range", v)
		}
		n.index[v-n.min] = int32(i)
		b.Append(names[i])
	}
	arr := b.NewArray()
	n.dict = arr.Data()
	n.dict.Retain()
	arr.Release()
	return n, nil
}

func (n *enumNode) dataType() arrow.DataType          { return n.dt }
func (n *enumNode) decodeState(r *proto.Reader) error { return nil }
func (n *enumNode) decode(r *proto.Reader, rows int) error {
	src, err := readScratch(r, &n.scratch, rows*n.width)
	if err != nil {
		return err
	}
	n.buf, n.rows = newBuffer(n.mem, rows*4), rows
	dst := view[int32](n.buf.Bytes())
	var bad int32
	if n.width == 1 {
		for i, v := range view[int8](src) {
			dst[i] = n.index[int(v)-n.min]
			bad |= dst[i]
		}
	} else {
		for i, v := range view[int16](src) {
			dst[i] = n.index[int(v)-n.min]
			bad |= dst[i]
		}
	}
	if bad < 0 {
		if !n.underNull {
			return fmt.Errorf("a value not among the enum's (corrupt block)")
		}
		for i, v := range dst {
			dst[i] = max(v, 0) // a null row's placeholder; the validity bitmap hides it
		}
	}
	return nil
}
func (n *enumNode) finish() arrow.ArrayData {
	d := array.NewDataWithDictionary(n.dt, n.rows, []*memory.Buffer{nil, n.buf}, 0, 0, n.dict.(*array.Data))
	releaseBuf(&n.buf)
	return d
}
func (n *enumNode) release() {
	releaseBuf(&n.buf)
	if n.dict != nil {
		n.dict.Release()
		n.dict = nil
	}
}

// lowCardNode reads LowCardinality(T): per block a dictionary (a column of T) and keys into it (UInt8..64 by
// the dictionary's size), which become an Arrow dictionary<int32, T> array. In LowCardinality(Nullable(T)) the
// dictionary is a column of T whose entry 0 stands for NULL.
//
// The server sends a dictionary per block, in its own order. The node unifies them (arrow-go's
// DictionaryUnifier) into one dictionary for the whole read, which only grows, and maps each block's keys onto
// it, so consecutive batches share one dictionary: a Parquet writer then writes the keys as they are, where a
// dictionary changing from batch to batch made it hash every value again (or write them plain). Past
// maxUnifiedDictionary entries it gives up and hands on each block's own dictionary.
type lowCardNode struct {
	mem      memory.Allocator
	dt       *arrow.DictionaryType
	index    node
	nullable bool
	scratch  []byte
	keys     *memory.Buffer
	bitmap   *memory.Buffer
	nulls    int
	rows     int
	dict     arrow.ArrayData // the dictionary of the block decoded, for finish

	unifier  array.DictionaryUnifier // nil once the dictionary passed maxUnifiedDictionary, or for a type it cannot hash
	unified  arrow.Array             // the read's dictionary so far
	gaveUpOn bool                    // unifying was tried and given up
}

// maxUnifiedDictionary bounds the entries of a read's unified LowCardinality dictionary (ClickHouse caps a
// block's at low_cardinality_max_dictionary_size, 8,192 by default): past it, a column is not low-cardinality
// enough for one dictionary to pay, and each block keeps its own.
const maxUnifiedDictionary = 1 << 16

// LowCardinality serialization constants (ClickHouse's SerializationLowCardinality).
const (
	lcSharedDictionariesWithAdditionalKeys = 1
	lcKeyMask                              = 0xff
	lcNeedGlobalDictionaryBit              = 1 << 8
	lcHasAdditionalKeysBit                 = 1 << 9
)

func newLowCardNode(mem memory.Allocator, name, inner string) (node, error) {
	it, err := parseType(inner)
	if err != nil {
		return nil, columnErr(name, inner, "%v", err)
	}
	n := &lowCardNode{mem: mem}
	if it.name == "Nullable" && len(it.args) == 1 {
		n.nullable = true
		inner = it.args[0]
	}
	if n.index, err = newNode(mem, name, inner); err != nil {
		return nil, err
	}
	n.dt = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: n.index.dataType()}
	return n, nil
}

func (n *lowCardNode) dataType() arrow.DataType { return n.dt }
func (n *lowCardNode) decodeState(r *proto.Reader) error {
	v, err := r.Int64()
	if err != nil {
		return fmt.Errorf("low cardinality version: %w", err)
	}
	if v != lcSharedDictionariesWithAdditionalKeys {
		return fmt.Errorf("low cardinality serialization version %d, want %d", v, lcSharedDictionariesWithAdditionalKeys)
	}
	return n.index.decodeState(r)
}
func (n *lowCardNode) decode(r *proto.Reader, rows int) error {
	n.rows = rows
	if n.dict != nil { // a block decoded and not finished
		n.dict.Release()
		n.dict = nil
	}
	if rows == 0 {
		return nil // ClickHouse writes nothing for an empty column
	}
	meta, err := r.Int64()
	if err != nil {
		return fmt.Errorf("low cardinality meta: %w", err)
	}
	if meta&lcNeedGlobalDictionaryBit != 0 {
		return fmt.Errorf("low cardinality with a global dictionary is not supported")
	}
	if meta&lcHasAdditionalKeysBit == 0 {
		return fmt.Errorf("low cardinality without additional keys is not supported")
	}
	keyWidth := 1 << (meta & lcKeyMask)
	if keyWidth > 8 {
		return fmt.Errorf("low cardinality key type %d", meta&lcKeyMask)
	}
	dictRows, err := r.Int64()
	if err != nil {
		return fmt.Errorf("low cardinality dictionary size: %w", err)
	}
	if dictRows < 0 || dictRows > math.MaxInt32 {
		return fmt.Errorf("low cardinality dictionary size %d", dictRows)
	}
	if err := n.index.decode(r, int(dictRows)); err != nil {
		return fmt.Errorf("low cardinality dictionary: %w", err)
	}
	n.dict = n.index.finish()
	keyRows, err := r.Int64()
	if err != nil {
		return fmt.Errorf("low cardinality keys size: %w", err)
	}
	if keyRows != int64(rows) {
		return fmt.Errorf("low cardinality: %d keys for %d rows", keyRows, rows)
	}
	src, err := readScratch(r, &n.scratch, rows*keyWidth)
	if err != nil {
		return err
	}
	n.keys = newBuffer(n.mem, rows*4)
	dst := view[int32](n.keys.Bytes())
	var mx uint64
	switch keyWidth {
	case 1:
		for i, k := range src {
			dst[i] = int32(k)
			mx = max(mx, uint64(k))
		}
	case 2:
		for i, k := range view[uint16](src) {
			dst[i] = int32(k)
			mx = max(mx, uint64(k))
		}
	case 4:
		for i, k := range view[uint32](src) {
			dst[i] = int32(k)
			mx = max(mx, uint64(k))
		}
	case 8:
		for i, k := range view[uint64](src) {
			dst[i] = int32(k)
			mx = max(mx, k)
		}
	}
	if mx >= uint64(dictRows) {
		return fmt.Errorf("low cardinality key %d beyond the dictionary's %d entries (corrupt block)", mx, dictRows)
	}
	if n.nullable {
		n.bitmap = newBuffer(n.mem, int(bitutil.BytesForBits(int64(rows))))
		bm := n.bitmap.Bytes()
		clear(bm)
		n.nulls = 0
		for i, k := range dst {
			if k != 0 {
				bm[i>>3] |= 1 << (i & 7)
			} else {
				n.nulls++
			}
		}
	}
	return n.unify(dst)
}

// unify maps the block's keys onto the read's unified dictionary, growing it by the block's new values, and
// makes it the block's dictionary; past maxUnifiedDictionary it stops and leaves the block's own.
func (n *lowCardNode) unify(keys []int32) error {
	if n.gaveUpOn {
		return nil
	}
	base := n.mem
	if p, ok := base.(*pool); ok {
		base = p.base // the unified dictionary outlives the block's pooled buffers
	}
	if n.unifier == nil {
		u, err := array.NewDictionaryUnifier(base, n.dt.ValueType)
		if err != nil {
			n.gaveUpOn = true // a value type it cannot hash: each block keeps its dictionary
			return nil
		}
		n.unifier = u
	}
	blockDict := array.MakeFromData(n.dict)
	defer blockDict.Release()
	transposed, err := n.unifier.UnifyAndTranspose(blockDict)
	if err != nil {
		return fmt.Errorf("low cardinality dictionary: %w", err)
	}
	defer transposed.Release()
	to := arrow.Int32Traits.CastFromBytes(transposed.Bytes())
	known := 0
	if n.unified != nil {
		known = n.unified.Len()
	}
	grown := false
	for _, t := range to {
		grown = grown || int(t) >= known
	}
	if grown {
		// GetResult empties the unifier; given the result back it holds the same values at the same indices.
		dict, err := n.unifier.GetResultWithIndexType(arrow.PrimitiveTypes.Int32)
		if err != nil {
			return fmt.Errorf("low cardinality dictionary: %w", err)
		}
		if n.unified != nil {
			n.unified.Release()
		}
		n.unified = dict
		if dict.Len() > maxUnifiedDictionary {
			n.giveUp()
		} else if err := n.unifier.Unify(dict); err != nil {
			return fmt.Errorf("low cardinality dictionary: %w", err)
		}
	}
	for i, k := range keys {
		keys[i] = to[k]
	}
	n.dict.Release()
	n.dict = n.unified.Data()
	n.dict.Retain()
	if n.gaveUpOn {
		n.unified.Release()
		n.unified = nil
	}
	return nil
}

// giveUp stops unifying: the blocks after this one keep their own dictionaries.
func (n *lowCardNode) giveUp() {
	n.gaveUpOn = true
	n.unifier.Release()
	n.unifier = nil
}
func (n *lowCardNode) finish() arrow.ArrayData {
	dict := n.dict
	n.dict = nil
	if dict == nil {
		mem := n.mem
		if p, ok := mem.(*pool); ok {
			mem = p.base
		}
		dict = array.MakeArrayOfNull(mem, n.dt.ValueType, 0).Data()
		dict.Retain()
		defer dict.Release() // the array's own reference
	}
	keys := n.keys
	if keys == nil {
		keys = memory.NewResizableBuffer(n.mem)
		defer keys.Release()
	}
	d := array.NewDataWithDictionary(n.dt, n.rows, []*memory.Buffer{n.bitmap, keys}, n.nulls, 0, dict.(*array.Data))
	dict.Release()
	releaseBuf(&n.keys)
	releaseBuf(&n.bitmap)
	return d
}
func (n *lowCardNode) release() {
	releaseBuf(&n.keys)
	releaseBuf(&n.bitmap)
	if n.dict != nil {
		n.dict.Release()
		n.dict = nil
	}
	if n.unified != nil {
		n.unified.Release()
		n.unified = nil
	}
	if n.unifier != nil {
		n.unifier.Release()
		n.unifier = nil
	}
	n.index.release()
}
