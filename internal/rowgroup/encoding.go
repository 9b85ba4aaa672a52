package rowgroup

import (
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	pq "github.com/apache/arrow-go/v18/parquet"
	pqschema "github.com/apache/arrow-go/v18/parquet/schema"
)

// Props gives each file the loader's writer properties plus an encoding per integer column chosen from the file's
// first batch (DeltaColumns): ids, sequence numbers and event times that arrive in order are written
// DELTA_BINARY_PACKED, the rest plain or dictionary as before. Files whose first batches pick the same columns
// share one *pq.WriterProperties. Safe for concurrent use.
type Props struct {
	base  []pq.WriterProperty
	psc   *pqschema.Schema
	delta bool
	fixed map[string]bool

	mu    sync.Mutex
	plain *pq.WriterProperties
	byKey map[string]*pq.WriterProperties
}

// NewProps makes the properties of files of Parquet schema psc: base, and with delta, DELTA_BINARY_PACKED for the
// columns DeltaColumns picks, except fixed ones (whose encoding the loader or the user set).
func NewProps(psc *pqschema.Schema, base []pq.WriterProperty, delta bool, fixed ...string) *Props {
	p := &Props{base: base, psc: psc, delta: delta, fixed: map[string]bool{}, byKey: map[string]*pq.WriterProperties{}}
	for _, c := range fixed {
		p.fixed[c] = true
	}
	p.plain = pq.NewWriterProperties(base...)
	return p
}

// Base is the properties without any column's encoding chosen: what a file gets when delta is off or no column
// pays, and what schema conversions should use.
func (p *Props) Base() *pq.WriterProperties { return p.plain }

// For is the properties of a file whose first batch is first.
func (p *Props) For(first arrow.RecordBatch) *pq.WriterProperties {
	if !p.delta {
		return p.plain
	}
	cols := DeltaColumns(p.psc, first, p.plain)
	cols = slices.DeleteFunc(cols, func(c string) bool { return p.fixed[c] })
	if len(cols) == 0 {
		return p.plain
	}
	key := strings.Join(cols, "\x00")
	p.mu.Lock()
	defer p.mu.Unlock()
	if props, ok := p.byKey[key]; ok {
		return props
	}
	opts := slices.Clone(p.base)
	for _, c := range cols {
		opts = append(opts, pq.WithDictionaryFor(c, false), pq.WithEncodingFor(c, pq.Encodings.DeltaBinaryPacked))
	}
	props := pq.NewWriterProperties(opts...)
	p.byKey[key] = props
	return props
}

// How DeltaColumns judges a column: on up to deltaSample of the batch's first non-null values, never on fewer
// than deltaMinValues (too few to tell a sequence from chance), in DELTA_BINARY_PACKED's miniblocks.
const (
	deltaSample    = 8192
	deltaMinValues = 128
	deltaMiniBlock = 32
	// Block headers (first value, min delta, four bit widths) per 128 values, in bits per value.
	deltaHeaderBits = 1
)

// DeltaColumns names the top-level INT32 and INT64 columns of psc (integers, dates, times, timestamps, durations,
// decimals stored as integers) whose values in first would take at most a quarter of their plain width as
// DELTA_BINARY_PACKED: values that arrive in order or nearly (a primary key, a sequence, the time of events),
// which plain pages leave to zstd, slowly (a third of the codec's time on a sorted table, bench/RESULTS.md) and
// less well. A column whose dictionary is enabled is left to it when most neighbouring values are equal (a
// sorted column of few values: its dictionary's runs are smaller and readers filter on them).
//
// The choice holds for the whole file, so a file whose first batch is sorted and later ones are not writes
// those as deltas too, at about their plain size before compression: files roll at their target size, and
// delta encoding is never chosen without such evidence. Every Parquet reader of the last years (DuckDB,
// Spark, Trino, pyarrow, iceberg-go, ClickHouse) reads it; the loaders' delta_encoding: false is for older ones.
func DeltaColumns(psc *pqschema.Schema, first arrow.RecordBatch, props *pq.WriterProperties) []string {
	var out []string
	for i := range psc.NumColumns() {
		c := psc.Column(i)
		path := c.ColumnPath()
		if len(path) != 1 || c.MaxRepetitionLevel() != 0 {
			continue
		}
		if t := c.PhysicalType(); t != pq.Types.Int32 && t != pq.Types.Int64 {
			continue
		}
		idx := first.Schema().FieldIndices(path[0])
		if len(idx) != 1 {
			continue
		}
		col := first.Column(idx[0])
		value, ok := integers(col)
		if !ok || col.Len()-col.NullN() < deltaMinValues {
			continue
		}
		var est deltaEstimate
		for i, n := 0, 0; i < col.Len() && n < deltaSample; i++ {
			if col.IsValid(i) {
				est.add(value(i))
				n++
			}
		}
		width := 64
		if c.PhysicalType() == pq.Types.Int32 {
			width = 32
		}
		if est.pays(width, props.DictionaryEnabledFor(path.String())) {
			out = append(out, path.String())
		}
	}
	return out
}

// integers gives the value at a row of col as int64, for the types whose Parquet values are the Arrow values
// themselves: unsigned ones as the same bits, as Parquet stores them (deltas wrap alike). Types narrower than 32
// bits are left to the dictionary: they hold few values.
func integers(col arrow.Array) (func(i int) int64, bool) {
	switch a := col.(type) {
	case *array.Int32:
		return func(i int) int64 { return int64(a.Value(i)) }, true
	case *array.Int64:
		return a.Value, true
	case *array.Uint32:
		return func(i int) int64 { return int64(a.Value(i)) }, true
	case *array.Uint64:
		return func(i int) int64 { return int64(a.Value(i)) }, true
	case *array.Date32:
		return func(i int) int64 { return int64(a.Value(i)) }, true
	case *array.Time32:
		return func(i int) int64 { return int64(a.Value(i)) }, true
	case *array.Time64:
		return func(i int) int64 { return int64(a.Value(i)) }, true
	case *array.Timestamp:
		return func(i int) int64 { return int64(a.Value(i)) }, true
	case *array.Duration:
		return func(i int) int64 { return int64(a.Value(i)) }, true
	case *array.Decimal128: // stored as INT32/INT64 only up to 18 digits, which the low 64 bits hold
		return func(i int) int64 { return int64(a.Value(i).LowBits()) }, true
	}
	return nil, false
}

// deltaEstimate sizes a column's values as DELTA_BINARY_PACKED as they come, without keeping them: each
// miniblock's deltas take the bits of its largest delta less its smallest.
type deltaEstimate struct {
	n, packed, equal int // values, bits of the miniblocks closed, zero deltas
	prev, lo, hi     int64
	inBlock          int // deltas in the open miniblock
}

func (e *deltaEstimate) add(v int64) {
	e.n++
	if e.n == 1 {
		e.prev = v
		return
	}
	d := v - e.prev
	e.prev = v
	if d == 0 {
		e.equal++
	}
	if e.inBlock == 0 {
		e.lo, e.hi = d, d
	}
	e.lo, e.hi = min(e.lo, d), max(e.hi, d)
	if e.inBlock++; e.inBlock == deltaMiniBlock {
		e.closeBlock()
	}
}

func (e *deltaEstimate) closeBlock() {
	e.packed += bits.Len64(uint64(e.hi-e.lo)) * e.inBlock
	e.inBlock = 0
}

// pays tells whether the values take at most a quarter of their plain width, and, when the column has a
// dictionary, whether fewer than half of neighbouring values are equal.
func (e *deltaEstimate) pays(width int, dictionary bool) bool {
	if e.inBlock > 0 {
		e.closeBlock()
	}
	deltas := e.n - 1
	if deltas <= 0 || dictionary && 2*e.equal >= deltas {
		return false
	}
	return 4*(e.packed+deltaHeaderBits*deltas) <= width*deltas
}
