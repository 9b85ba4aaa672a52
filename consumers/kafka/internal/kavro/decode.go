package kavro

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/twmb/avro"
)

// Avro values are decoded from their binary encoding straight into Arrow builders, walking a tree compiled from
// the writer's schema (parsed and validated by github.com/twmb/avro), so no Go value is made per message.

type akind uint8

const (
	aBool akind = iota
	aInt32
	aInt64
	aFloat32
	aFloat64
	aString
	aBytes
	aFixed
	aEnum
	aDate32
	aTimestamp
	aDecimalBytes
	aDecimalFixed
	aRecord
	aArray
	aMap
)

// node decodes one Avro schema node into its builder. Like the JSON nodes, decode appends exactly one value
// whatever happens, so a bad message can be cut off the batch.
type node struct {
	kind     akind
	promote  promotion // a writer's value read as kind, appended to a builder of a wider type
	name     string
	nullable bool // a ["null", T] union: a branch index comes first
	nullIdx  int64
	b        array.Builder
	size     int // fixed
	symbols  []string
	scale    int32
	prec     int32

	children []*node  // record fields, in order (the writer's, when resolved; nil b: skipped)
	fill     []filler // resolved record: the reader's fields the writer lacks
	elem     *node    // array items, map values
	st       *array.StructBuilder
	li       *array.ListBuilder
	mp       *array.MapBuilder
	key      *array.StringBuilder
}

// avroSchema compiles the writer's schema: its top-level record's fields become the value's columns.
func avroSchema(text string) ([]arrow.Field, []*field, error) {
	s, err := avro.Parse(text)
	if err != nil {
		return nil, nil, err
	}
	root := s.Root()
	if root.Type != "record" {
		return nil, nil, fmt.Errorf("the schema's top level is %s, want a record (its fields become the columns)", root.Type)
	}
	named := map[string]*avro.SchemaNode{}
	fields := make([]arrow.Field, 0, len(root.Fields))
	plan := make([]*field, 0, len(root.Fields))
	for i := range root.Fields {
		f := &root.Fields[i]
		dt, nullable, err := avroArrow(&f.Type, named, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		fields = append(fields, arrow.Field{Name: f.Name, Type: dt, Nullable: true})
		plan = append(plan, &field{name: f.Name, node: &f.Type, field: f, nullable: nullable})
	}
	return fields, plan, nil
}

// field keeps a top-level field's schema node until the builders exist.
type field struct {
	name     string
	node     *avro.SchemaNode
	field    *avro.SchemaField // for its default
	nullable bool
}

// unwrapNullable returns T of a ["null", T] or [T, "null"] union, with the null branch's index.
func unwrapNullable(n *avro.SchemaNode) (*avro.SchemaNode, int64, bool, error) {
	if n.Type != "union" {
		return n, 0, false, nil
	}
	if len(n.Branches) == 2 {
		for i, b := range n.Branches {
			if b.Type == "null" {
				return &n.Branches[1-i], int64(i), true, nil
			}
		}
	}
	return nil, 0, false, errors.New("unions other than [\"null\", T] are not supported")
}

func resolveNamed(n *avro.SchemaNode, named map[string]*avro.SchemaNode) *avro.SchemaNode {
	switch n.Type {
	case "record", "error", "enum", "fixed":
		full := n.Name
		if n.Namespace != "" {
			full = n.Namespace + "." + n.Name
		}
		named[full] = n
		named[n.Name] = n
		return n
	}
	if def, ok := named[n.Type]; ok {
		return def
	}
	return n
}

const maxAvroDepth = 32

// avroArrow maps an Avro schema node to its Arrow type.
func avroArrow(n *avro.SchemaNode, named map[string]*avro.SchemaNode, depth int) (arrow.DataType, bool, error) {
	if depth > maxAvroDepth {
		return nil, false, errors.New("schema nested too deep (a recursive type cannot become Arrow columns)")
	}
	n, _, nullable, err := unwrapNullable(n)
	if err != nil {
		return nil, false, err
	}
	n = resolveNamed(n, named)
	switch n.Type {
	case "boolean":
		return arrow.FixedWidthTypes.Boolean, nullable, nil
	case "int":
		if n.LogicalType == "date" {
			return arrow.FixedWidthTypes.Date32, nullable, nil
		}
		return arrow.PrimitiveTypes.Int32, nullable, nil
	case "long":
		switch n.LogicalType {
		case "timestamp-millis":
			return &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, nullable, nil
		case "timestamp-micros":
			return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nullable, nil
		}
		return arrow.PrimitiveTypes.Int64, nullable, nil
	case "float":
		return arrow.PrimitiveTypes.Float32, nullable, nil
	case "double":
		return arrow.PrimitiveTypes.Float64, nullable, nil
	case "string", "enum":
		return arrow.BinaryTypes.String, nullable, nil
	case "bytes", "fixed":
		if n.LogicalType == "decimal" {
			if n.Precision > 38 {
				return nil, false, fmt.Errorf("decimal precision %d is over 38", n.Precision)
			}
			return &arrow.Decimal128Type{Precision: int32(n.Precision), Scale: int32(n.Scale)}, nullable, nil
		}
		if n.Type == "fixed" {
			return &arrow.FixedSizeBinaryType{ByteWidth: n.Size}, nullable, nil
		}
		return arrow.BinaryTypes.Binary, nullable, nil
	case "array":
		et, _, err := avroArrow(n.Items, named, depth+1)
		if err != nil {
			return nil, false, err
		}
		return arrow.ListOf(et), nullable, nil
	case "map":
		vt, _, err := avroArrow(n.Values, named, depth+1)
		if err != nil {
			return nil, false, err
		}
		return arrow.MapOf(arrow.BinaryTypes.String, vt), nullable, nil
	case "record", "error":
		fs := make([]arrow.Field, len(n.Fields))
		for i := range n.Fields {
			ft, _, err := avroArrow(&n.Fields[i].Type, named, depth+1)
			if err != nil {
				return nil, false, fmt.Errorf("%s: %w", n.Fields[i].Name, err)
			}
			fs[i] = arrow.Field{Name: n.Fields[i].Name, Type: ft, Nullable: true}
		}
		return arrow.StructOf(fs...), nullable, nil
	}
	return nil, false, fmt.Errorf("Avro type %s is not supported", n.Type)
}

// newNode wires a decoder for schema node n onto builder b (whose type avroArrow gave). With b nil the node
// can only skip values (a field only the writer's schema has).
func newNode(name string, n *avro.SchemaNode, b array.Builder, named map[string]*avro.SchemaNode) *node {
	inner, nullIdx, nullable, _ := unwrapNullable(n)
	inner = resolveNamed(inner, named)
	a := &node{name: name, b: b, nullable: nullable, nullIdx: nullIdx}
	switch inner.Type {
	case "boolean":
		a.kind = aBool
	case "int":
		a.kind = aInt32
		if inner.LogicalType == "date" {
			a.kind = aDate32
		}
	case "long":
		a.kind = aInt64
		if inner.LogicalType == "timestamp-millis" || inner.LogicalType == "timestamp-micros" {
			a.kind = aTimestamp
		}
	case "float":
		a.kind = aFloat32
	case "double":
		a.kind = aFloat64
	case "string":
		a.kind = aString
	case "enum":
		a.kind, a.symbols = aEnum, inner.Symbols
	case "bytes":
		a.kind = aBytes
		if inner.LogicalType == "decimal" {
			a.kind, a.prec, a.scale = aDecimalBytes, int32(inner.Precision), int32(inner.Scale)
		}
	case "fixed":
		a.kind, a.size = aFixed, inner.Size
		if inner.LogicalType == "decimal" {
			a.kind, a.prec, a.scale = aDecimalFixed, int32(inner.Precision), int32(inner.Scale)
		}
	case "array":
		a.kind = aArray
		var eb array.Builder
		if b != nil {
			a.li = b.(*array.ListBuilder)
			eb = a.li.ValueBuilder()
		}
		a.elem = newNode(name+"[]", inner.Items, eb, named)
	case "map":
		a.kind = aMap
		var ib array.Builder
		if b != nil {
			a.mp = b.(*array.MapBuilder)
			a.key = a.mp.KeyBuilder().(*array.StringBuilder)
			ib = a.mp.ItemBuilder()
		}
		a.elem = newNode(name+"{}", inner.Values, ib, named)
	case "record", "error":
		a.kind = aRecord
		if b != nil {
			a.st = b.(*array.StructBuilder)
		}
		for i := range inner.Fields {
			var fb array.Builder
			if a.st != nil {
				fb = a.st.FieldBuilder(i)
			}
			a.children = append(a.children, newNode(name+"."+inner.Fields[i].Name, &inner.Fields[i].Type, fb, named))
		}
	}
	return a
}

// reader reads the binary encoding of one message.
type reader struct {
	b   []byte
	pos int
}

var errAvroShort = errors.New("message ends inside a value")

func (r *reader) long() (int64, error) {
	v, n := binary.Uvarint(r.b[r.pos:])
	if n <= 0 {
		if n == 0 {
			return 0, errAvroShort
		}
		return 0, errors.New("varint overflows 64 bits")
	}
	r.pos += n
	return int64(v>>1) ^ -int64(v&1), nil
}

// blockCount checks the item count of an array or map block: every item takes at least one byte, so a count
// over the bytes left (or negative) cannot be right, and would otherwise drive a loop of that length.
func (r *reader) blockCount(count int64) error {
	if count < 0 || count > int64(len(r.b)-r.pos) {
		return fmt.Errorf("block of %d items at byte %d, with %d bytes left in the message", count, r.pos, len(r.b)-r.pos)
	}
	return nil
}

func (r *reader) take(n int64) ([]byte, error) {
	if n < 0 || n > int64(len(r.b)-r.pos) {
		if n < 0 {
			return nil, fmt.Errorf("negative length %d", n)
		}
		return nil, errAvroShort
	}
	out := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return out, nil
}

// decode reads one value and appends it; on error it has still appended exactly one value.
func (a *node) decode(r *reader, depth int) error {
	opened, err := a.value(r, depth)
	if err != nil {
		if !opened {
			a.b.AppendNull()
		}
		return fmt.Errorf("field %s: %w", a.name, err)
	}
	return nil
}

func (a *node) value(r *reader, depth int) (bool, error) {
	if depth > maxAvroDepth {
		return false, errors.New("nested too deep")
	}
	if a.nullable {
		idx, err := r.long()
		if err != nil {
			return false, err
		}
		if idx == a.nullIdx {
			a.b.AppendNull()
			return true, nil
		}
		if idx != 1-a.nullIdx {
			return false, fmt.Errorf("union branch %d does not exist", idx)
		}
	}
	if a.promote != pNone {
		if err := a.promoted(r); err != nil {
			return false, err
		}
		return true, nil
	}
	switch a.kind {
	case aBool:
		v, err := r.take(1)
		if err != nil {
			return false, err
		}
		a.b.(*array.BooleanBuilder).Append(v[0] != 0)
	case aInt32, aDate32:
		v, err := r.long()
		if err != nil {
			return false, err
		}
		if v < math.MinInt32 || v > math.MaxInt32 {
			return false, fmt.Errorf("%d overflows int", v)
		}
		if a.kind == aDate32 {
			a.b.(*array.Date32Builder).Append(arrow.Date32(v))
		} else {
			a.b.(*array.Int32Builder).Append(int32(v))
		}
	case aInt64:
		v, err := r.long()
		if err != nil {
			return false, err
		}
		a.b.(*array.Int64Builder).Append(v)
	case aTimestamp:
		v, err := r.long()
		if err != nil {
			return false, err
		}
		a.b.(*array.TimestampBuilder).Append(arrow.Timestamp(v))
	case aFloat32:
		v, err := r.take(4)
		if err != nil {
			return false, err
		}
		a.b.(*array.Float32Builder).Append(math.Float32frombits(binary.LittleEndian.Uint32(v)))
	case aFloat64:
		v, err := r.take(8)
		if err != nil {
			return false, err
		}
		a.b.(*array.Float64Builder).Append(math.Float64frombits(binary.LittleEndian.Uint64(v)))
	case aString, aBytes, aDecimalBytes:
		n, err := r.long()
		if err != nil {
			return false, err
		}
		v, err := r.take(n)
		if err != nil {
			return false, err
		}
		switch a.kind {
		case aString:
			if !utf8.Valid(v) {
				return false, errors.New("invalid UTF-8 in a string")
			}
			a.b.(*array.StringBuilder).BinaryBuilder.Append(v)
		case aBytes:
			a.b.(*array.BinaryBuilder).Append(v)
		default:
			return false, a.decimal(v)
		}
	case aFixed, aDecimalFixed:
		v, err := r.take(int64(a.size))
		if err != nil {
			return false, err
		}
		if a.kind == aDecimalFixed {
			return false, a.decimal(v)
		}
		a.b.(*array.FixedSizeBinaryBuilder).Append(v)
	case aEnum:
		i, err := r.long()
		if err != nil {
			return false, err
		}
		if i < 0 || i >= int64(len(a.symbols)) {
			return false, fmt.Errorf("enum index %d is out of its %d symbols", i, len(a.symbols))
		}
		a.b.(*array.StringBuilder).Append(a.symbols[i])
	case aRecord:
		a.st.Append(true)
		var ferr error
		for i := range a.fill { // resolved against a reader's record: its fields the writer lacks
			if err := a.fill[i].append(); err != nil && ferr == nil {
				ferr = fmt.Errorf("the reader's default of %w", err)
			}
		}
		for i, c := range a.children {
			var err error
			if c.b == nil { // only the writer's record has this field
				if err = c.skip(r, depth+1); err != nil {
					err = fmt.Errorf("field %s: %w", c.name, err)
				}
			} else {
				err = c.decode(r, depth+1)
			}
			if err != nil {
				for _, rest := range a.children[i+1:] {
					if rest.b != nil {
						rest.b.AppendNull()
					}
				}
				return true, err
			}
		}
		if ferr != nil {
			return true, ferr
		}
	case aArray, aMap:
		if a.kind == aArray {
			a.li.Append(true)
		} else {
			a.mp.Append(true)
		}
		for {
			count, err := r.long()
			if err != nil {
				return true, err
			}
			if count == 0 {
				break
			}
			if count < 0 {
				count = -count                      // MinInt64 stays negative, and is refused below
				if _, err := r.long(); err != nil { // the block's size in bytes, for skipping
					return true, err
				}
			}
			if err := r.blockCount(count); err != nil {
				return true, err
			}
			for range count {
				if a.kind == aMap {
					n, err := r.long()
					if err != nil {
						return true, err
					}
					k, err := r.take(n)
					if err != nil {
						return true, err
					}
					if !utf8.Valid(k) {
						return true, errors.New("invalid UTF-8 in a map key")
					}
					a.key.BinaryBuilder.Append(k)
				}
				if err := a.elem.decode(r, depth+1); err != nil {
					return true, err
				}
			}
		}
	}
	return true, nil
}

// decimal appends a big-endian two's complement unscaled value.
func (a *node) decimal(v []byte) error {
	if len(v) > 16 {
		return fmt.Errorf("decimal of %d bytes overflows decimal128", len(v))
	}
	var buf [16]byte
	if len(v) > 0 && v[0]&0x80 != 0 {
		for i := range buf {
			buf[i] = 0xff
		}
	}
	copy(buf[16-len(v):], v)
	d := decimal128.New(int64(binary.BigEndian.Uint64(buf[:8])), binary.BigEndian.Uint64(buf[8:]))
	if !d.FitsInPrecision(a.prec) {
		return fmt.Errorf("decimal overflows precision %d", a.prec)
	}
	a.b.(*array.Decimal128Builder).Append(d)
	return nil
}
