package transformers

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

// DedupeConfig is the `dedupe` transformer's YAML config.
type DedupeConfig struct {
	Keys    []string `yaml:"keys" required:"true" doc:"The columns that identify a row: rows with equal values in all of them are duplicates (nulls equal each other)."`
	OrderBy string   `yaml:"order_by" doc:"Column that decides which duplicate is kept (a number, date, timestamp or string): the smallest with keep: first, the largest with keep: last; a null order loses to any value. Without it, the first or last row to arrive is kept."`
	Keep    string   `yaml:"keep" default:"first" enum:"first,last" doc:"Which duplicate to keep."`
}

const dedupeDoc = "Removes rows whose key columns repeat within a partition, keeping the first or last by an order column or by arrival. " +
	"Memory: one entry per distinct key for the partition's length. With keep: first and no order_by, rows stream through; " +
	"otherwise rows are held until the partition ends, when the kept rows are emitted as one batch: the held batches are compacted to the rows " +
	"still kept whenever they hold more than twice as many rows (and over 64k), so memory follows the number of distinct keys, not the partition's size."

func init() {
	stage.RegisterTransformer("dedupe", dedupeDoc, func(bc stage.BuildContext, c *DedupeConfig) (stage.Transformer, error) {
		if err := noDuplicates(c.Keys, "keys"); err != nil {
			return nil, err
		}
		return &dedupe{mem: bc.Alloc, cfg: c, compactAt: 1 << 16}, nil
	})
}

type dedupe struct {
	mem memory.Allocator
	cfg *DedupeConfig
	// compactAt is the number of held rows below which held batches are never compacted.
	compactAt int64
}

// plan returns the key column indices and the order column index (-1 without one).
func (d *dedupe) plan(in *arrow.Schema) ([]int, int, error) {
	keys := make([]int, len(d.cfg.Keys))
	for i, name := range d.cfg.Keys {
		path := fmt.Sprintf("keys[%d]", i)
		j, err := findColumn(in, name, path)
		if err != nil {
			return nil, -1, err
		}
		if !keyable(in.Field(j).Type) {
			return nil, -1, stage.FieldErrorf(path, "column %q is %s; keys must be numbers, strings, binary, uuids, json, booleans, dates, timestamps or decimals", name, in.Field(j).Type)
		}
		keys[i] = j
	}
	order := -1
	if d.cfg.OrderBy != "" {
		j, err := findColumn(in, d.cfg.OrderBy, "order_by")
		if err != nil {
			return nil, -1, err
		}
		if orderKind(in.Field(j).Type) == ordNone {
			return nil, -1, stage.FieldErrorf("order_by", "column %q is %s; order_by takes a number, date, timestamp or string column", d.cfg.OrderBy, in.Field(j).Type)
		}
		order = j
	}
	return keys, order, nil
}

func (d *dedupe) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if _, _, err := d.plan(in); err != nil {
		return nil, err
	}
	return in, nil
}

func (d *dedupe) Transform(context.Context, arrow.RecordBatch) (arrow.RecordBatch, error) {
	return nil, errors.New("dedupe: the stage keeps state per partition: the engine must call ForPartition and use the instance it returns")
}

func (d *dedupe) ForPartition(stage.Partition) (stage.Transformer, error) {
	return &dedupeInstance{d: d, index: map[string]int{}}, nil
}

// dedupeInstance deduplicates one partition. It is driven by one goroutine, as the engine does per partition.
type dedupeInstance struct {
	d        *dedupe
	index    map[string]int // key bytes → index in winners
	winners  []winner
	held     []arrow.RecordBatch // buffered mode: the batches winners point into, retained until Flush
	heldRows int64
	keyBuf   []byte
}

// winner is the row currently kept for one key.
type winner struct {
	batch, row int32
	ord        orderValue
}

func (di *dedupeInstance) streaming() bool {
	return di.d.cfg.OrderBy == "" && di.d.cfg.Keep == "first"
}

func (di *dedupeInstance) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	return di.d.OutputSchema(in)
}

func (di *dedupeInstance) Transform(ctx context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	keys, order, err := di.d.plan(batch.Schema())
	if err != nil {
		return nil, err
	}
	if len(di.held) > 0 && !di.held[0].Schema().Equal(batch.Schema()) {
		return nil, fmt.Errorf("dedupe: batch schema changed within the partition:\n%s\nthen\n%s", di.held[0].Schema(), batch.Schema())
	}
	enc, err := newKeyEncoder(batch, keys)
	if err != nil {
		return nil, err
	}
	n := int(batch.NumRows())
	if di.streaming() {
		keep := array.NewBooleanBuilder(di.d.mem)
		defer keep.Release()
		keep.Reserve(n)
		kept := 0
		for i := range n {
			di.keyBuf = enc.appendKey(di.keyBuf[:0], i)
			if _, seen := di.index[string(di.keyBuf)]; seen {
				keep.UnsafeAppend(false)
				continue
			}
			di.index[string(di.keyBuf)] = 0
			keep.UnsafeAppend(true)
			kept++
		}
		switch kept {
		case n:
			batch.Retain()
			return batch, nil
		case 0:
			return nil, nil
		}
		mask := keep.NewBooleanArray()
		defer mask.Release()
		return compute.FilterRecordBatch(compute.WithAllocator(ctx, di.d.mem), batch, mask, compute.DefaultFilterOptions())
	}

	b := int32(len(di.held))
	var ordAt func(int) orderValue
	if order >= 0 {
		ordAt = orderReader(batch.Column(order))
	}
	last := di.d.cfg.Keep == "last"
	for i := range n {
		di.keyBuf = enc.appendKey(di.keyBuf[:0], i)
		var ov orderValue
		if ordAt != nil {
			ov = ordAt(i)
		}
		w, seen := di.index[string(di.keyBuf)]
		if !seen {
			di.index[string(di.keyBuf)] = len(di.winners)
			di.winners = append(di.winners, winner{batch: b, row: int32(i), ord: ov.owned()})
			continue
		}
		replace := last // by arrival: the last replaces, the first stays
		if ordAt != nil {
			old := di.winners[w].ord
			switch {
			case !ov.valid:
				replace = !old.valid && last // a null order loses to any value
			case !old.valid:
				replace = true
			default:
				c := ov.compare(old)
				replace = last && c >= 0 || !last && c < 0 // ties go by arrival
			}
		}
		if replace {
			di.winners[w] = winner{batch: b, row: int32(i), ord: ov.owned()}
		}
	}
	batch.Retain()
	di.held = append(di.held, batch)
	di.heldRows += batch.NumRows()
	if di.heldRows > di.d.compactAt && di.heldRows > 2*int64(len(di.winners)) {
		if err := di.compact(ctx); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// compact replaces the held batches by one batch of the rows still kept.
func (di *dedupeInstance) compact(ctx context.Context) error {
	kept, err := di.gather(ctx)
	if err != nil {
		return err
	}
	di.releaseHeld()
	if kept != nil {
		di.held, di.heldRows = []arrow.RecordBatch{kept}, kept.NumRows()
	}
	return nil
}

func (di *dedupeInstance) releaseHeld() {
	for _, b := range di.held {
		b.Release()
	}
	di.held, di.heldRows = nil, 0
}

// Flush emits the kept rows of a buffered partition, in the order they arrived, as one batch.
func (di *dedupeInstance) Flush(ctx context.Context) (arrow.RecordBatch, error) {
	defer func() {
		di.releaseHeld()
		di.winners, di.index = nil, map[string]int{}
	}()
	return di.gather(ctx)
}

// gather takes the kept rows out of the held batches, in arrival order, into one batch (nil when there are
// none), and points the winners at their rows in it.
func (di *dedupeInstance) gather(ctx context.Context) (arrow.RecordBatch, error) {
	if len(di.winners) == 0 {
		return nil, nil
	}
	order := make([]int, len(di.winners))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		wa, wb := di.winners[a], di.winners[b]
		if wa.batch != wb.batch {
			return cmp.Compare(wa.batch, wb.batch)
		}
		return cmp.Compare(wa.row, wb.row)
	})
	picks := make([][]int32, len(di.held))
	for _, w := range order {
		picks[di.winners[w].batch] = append(picks[di.winners[w].batch], di.winners[w].row)
	}
	ctx = compute.WithAllocator(ctx, di.d.mem)
	var parts []arrow.RecordBatch
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	for bi, rows := range picks {
		if len(rows) == 0 {
			continue
		}
		ib := array.NewInt32Builder(di.d.mem)
		ib.AppendValues(rows, nil)
		idx := ib.NewArray()
		ib.Release()
		out, err := compute.Take(ctx, *compute.DefaultTakeOptions(), compute.NewDatumWithoutOwning(di.held[bi]), compute.NewDatumWithoutOwning(idx))
		idx.Release()
		if err != nil {
			return nil, fmt.Errorf("dedupe: taking the kept rows: %w", err)
		}
		parts = append(parts, out.(*compute.RecordDatum).Value)
	}
	var kept arrow.RecordBatch
	if len(parts) == 1 {
		parts[0].Retain()
		kept = parts[0]
	} else {
		var err error
		if kept, err = concatBatches(di.d.mem, parts); err != nil {
			return nil, err
		}
	}
	for r, w := range order {
		di.winners[w].batch, di.winners[w].row = 0, int32(r)
	}
	return kept, nil
}

// concatBatches joins batches of one schema into one.
func concatBatches(mem memory.Allocator, parts []arrow.RecordBatch) (arrow.RecordBatch, error) {
	schema := parts[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	defer releaseAll(cols)
	chunk := make([]arrow.Array, len(parts))
	var rows int64
	for _, p := range parts {
		rows += p.NumRows()
	}
	for j := range cols {
		for i, p := range parts {
			chunk[i] = p.Column(j)
		}
		c, err := array.Concatenate(chunk, mem)
		if err != nil {
			return nil, fmt.Errorf("joining column %q: %w", schema.Field(j).Name, err)
		}
		cols[j] = c
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}

func keyable(dt arrow.DataType) bool {
	if isUUID(dt) || isJSON(dt) {
		return true
	}
	switch valueType(dt).ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.BOOL, arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64, arrow.DECIMAL128, arrow.FIXED_SIZE_BINARY:
		return true
	}
	return false
}

// keyEncoder writes the key columns of a row as bytes that are equal exactly when the keys are equal.
type keyEncoder struct {
	cols []func(buf []byte, row int) []byte
}

func newKeyEncoder(batch arrow.RecordBatch, keys []int) (*keyEncoder, error) {
	e := &keyEncoder{}
	for _, j := range keys {
		f, err := columnEncoder(batch.Column(j))
		if err != nil {
			return nil, fmt.Errorf("dedupe: key column %q: %w", batch.Schema().Field(j).Name, err)
		}
		e.cols = append(e.cols, f)
	}
	return e, nil
}

func (e *keyEncoder) appendKey(buf []byte, row int) []byte {
	for _, f := range e.cols {
		buf = f(buf, row)
	}
	return buf
}

// columnEncoder returns the encoder of one column: a null marker byte, then the value (fixed width, or
// length-prefixed for variable width, so that ("ab","c") and ("a","bc") differ).
func columnEncoder(col arrow.Array) (func([]byte, int) []byte, error) {
	valid := validityOf(col)
	withNull := func(enc func([]byte, int) []byte) func([]byte, int) []byte {
		return func(buf []byte, i int) []byte {
			if valid.null(i) {
				return append(buf, 0)
			}
			return enc(append(buf, 1), i)
		}
	}
	switch a := col.(type) {
	case *extensions.UUIDArray:
		// A uuid key is its 16 bytes.
		return columnEncoder(a.Storage())
	case *extensions.JSONArray:
		// A json key is its text, as written: {"a":1} and { "a": 1 } are different keys.
		return columnEncoder(a.Storage())
	case *array.Dictionary:
		inner, err := columnEncoder(a.Dictionary())
		if err != nil {
			return nil, err
		}
		return withNull(func(buf []byte, i int) []byte { return inner(buf, a.GetValueIndex(i)) }), nil
	case *array.String:
		return withNull(func(buf []byte, i int) []byte { return appendBytes(buf, a.Value(i)) }), nil
	case *array.LargeString:
		return withNull(func(buf []byte, i int) []byte { return appendBytes(buf, a.Value(i)) }), nil
	case *array.Binary:
		return withNull(func(buf []byte, i int) []byte { return appendBytes(buf, a.Value(i)) }), nil
	case *array.LargeBinary:
		return withNull(func(buf []byte, i int) []byte { return appendBytes(buf, a.Value(i)) }), nil
	case *array.FixedSizeBinary:
		return withNull(func(buf []byte, i int) []byte { return append(buf, a.Value(i)...) }), nil
	case *array.Boolean:
		return withNull(func(buf []byte, i int) []byte {
			if a.Value(i) {
				return append(buf, 1)
			}
			return append(buf, 0)
		}), nil
	case *array.Decimal128:
		vs := a.Values()
		return withNull(func(buf []byte, i int) []byte {
			buf = binary.LittleEndian.AppendUint64(buf, vs[i].LowBits())
			return binary.LittleEndian.AppendUint64(buf, uint64(vs[i].HighBits()))
		}), nil
	case *array.Float32:
		vs := a.Float32Values()
		return withNull(func(buf []byte, i int) []byte { return binary.LittleEndian.AppendUint32(buf, math.Float32bits(vs[i])) }), nil
	case *array.Float64:
		vs := a.Float64Values()
		return withNull(func(buf []byte, i int) []byte { return binary.LittleEndian.AppendUint64(buf, math.Float64bits(vs[i])) }), nil
	}
	// Every remaining key type is an integer of 1 to 8 bytes in its values buffer.
	if fw, ok := col.DataType().(arrow.FixedWidthDataType); ok && col.Data().Buffers()[1] != nil {
		width := fw.BitWidth() / 8
		raw := col.Data().Buffers()[1].Bytes()[col.Data().Offset()*width:]
		return withNull(func(buf []byte, i int) []byte { return append(buf, raw[i*width:(i+1)*width]...) }), nil
	}
	return nil, fmt.Errorf("type %s cannot be a key", col.DataType())
}

func appendBytes[T string | []byte](buf []byte, v T) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(v)))
	return append(buf, v...)
}

type ordKind uint8

const (
	ordNone ordKind = iota
	ordInt
	ordUint
	ordFloat
	ordString
)

func orderKind(dt arrow.DataType) ordKind {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64:
		return ordInt
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return ordUint
	case arrow.FLOAT32, arrow.FLOAT64:
		return ordFloat
	case arrow.STRING, arrow.LARGE_STRING:
		return ordString
	}
	return ordNone
}

// orderValue is one order column value; valid is false for a null.
type orderValue struct {
	valid bool
	i     int64
	u     uint64
	f     float64
	s     string
}

// owned returns v with its string copied out of the batch's buffer, so it can outlive the batch.
func (v orderValue) owned() orderValue {
	if v.s != "" {
		v.s = string([]byte(v.s))
	}
	return v
}

// compare orders two non-null values.
func (v orderValue) compare(w orderValue) int {
	switch {
	case v.i != w.i:
		return cmp3(v.i < w.i)
	case v.u != w.u:
		return cmp3(v.u < w.u)
	case v.f != w.f:
		return cmp3(v.f < w.f)
	case v.s != w.s:
		return cmp3(v.s < w.s)
	}
	return 0
}

func cmp3(less bool) int {
	if less {
		return -1
	}
	return 1
}

// orderReader returns a reader of the order column's values, chosen once per batch.
func orderReader(col arrow.Array) func(i int) orderValue {
	null := validityOf(col).null
	ints := func(get func(i int) int64) func(int) orderValue {
		return func(i int) orderValue {
			if null(i) {
				return orderValue{}
			}
			return orderValue{valid: true, i: get(i)}
		}
	}
	switch a := col.(type) {
	case *array.Int8:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Int16:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Int32:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Int64:
		return ints(a.Value)
	case *array.Date32:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Date64:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Timestamp:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Time32:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Time64:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Uint8:
		return func(i int) orderValue { return orderValue{valid: !null(i), u: uint64(a.Value(i))} }
	case *array.Uint16:
		return func(i int) orderValue { return orderValue{valid: !null(i), u: uint64(a.Value(i))} }
	case *array.Uint32:
		return func(i int) orderValue { return orderValue{valid: !null(i), u: uint64(a.Value(i))} }
	case *array.Uint64:
		return func(i int) orderValue { return orderValue{valid: !null(i), u: a.Value(i)} }
	case *array.Float32:
		return func(i int) orderValue { return orderValue{valid: !null(i), f: float64(a.Value(i))} }
	case *array.Float64:
		return func(i int) orderValue { return orderValue{valid: !null(i), f: a.Value(i)} }
	case *array.String:
		return func(i int) orderValue {
			if null(i) {
				return orderValue{}
			}
			return orderValue{valid: true, s: a.Value(i)}
		}
	case *array.LargeString:
		return func(i int) orderValue {
			if null(i) {
				return orderValue{}
			}
			return orderValue{valid: true, s: a.Value(i)}
		}
	}
	return func(int) orderValue { return orderValue{} }
}
