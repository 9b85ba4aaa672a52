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
		vals, ok := integers(first.Column(idx[0]))
		if !ok {
			continue
		}
		width := 64
		if c.PhysicalType() == pq.Types.Int32 {
			width = 32
		}
		if deltaPays(vals, width, props.DictionaryEnabledFor(path.String())) {
			out = append(out, path.String())
		}
	}
	return out
}

// integers reads up to deltaSample of col's non-null values as int64, for the types whose Parquet values are the
// Arrow values themselves: unsigned ones as the same bits, as Parquet stores them (deltas wrap alike). Types
// narrower than 32 bits are left to the dictionary: they hold few values.
func integers(col arrow.Array) ([]int64, bool) {
	n := col.Len() - col.NullN()
	if n < deltaMinValues {
		return nil, false
	}
	out := make([]int64, 0, min(n, deltaSample))
	add := func(at func(i int) int64) {
		for i := 0; i < col.Len() && len(out) < cap(out); i++ {
			if col.IsValid(i) {
				out = append(out, at(i))
			}
		}
	}
	switch a := col.(type) {
	case *array.Int32:
		add(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Int64:
		add(func(i int) int64 { return a.Value(i) })
	case *array.Uint32:
		add(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Uint64:
		add(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Date32:
		add(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Time32:
		add(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Time64:
		add(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Timestamp:
		add(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Duration:
		add(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Decimal128: // stored as INT32/INT64 only up to 18 digits, which the low 64 bits hold
		add(func(i int) int64 { return int64(a.Value(i).LowBits()) })
	default:
		return nil, false
	}
	return out, true
}

// deltaPays estimates the DELTA_BINARY_PACKED size of vals (each miniblock's deltas take the bits of its largest
// delta less its smallest) against a quarter of their plain width.
func deltaPays(vals []int64, width int, dictionary bool) bool {
	var packed, equal int
	for start := 1; start < len(vals); start += deltaMiniBlock {
		end := min(start+deltaMiniBlock, len(vals))
		lo, hi := vals[start]-vals[start-1], vals[start]-vals[start-1]
		for i := start; i < end; i++ {
			d := vals[i] - vals[i-1]
			lo, hi = min(lo, d), max(hi, d)
			if d == 0 {
				equal++
			}
		}
		packed += bits.Len64(uint64(hi-lo)) * (end - start)
	}
	n := len(vals) - 1
	if dictionary && 2*equal >= n {
		return false
	}
	return 4*(packed+deltaHeaderBits*n) <= width*n
}
