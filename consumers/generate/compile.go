package generate

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/internal/civil"
	"github.com/jetflow-dev/jetflow/stage"
)

// Default ranges, documented on the config fields.
var (
	defaultStart = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	defaultEnd   = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
)

const (
	defaultMinLen, defaultMaxLen           = 8, 24
	defaultMinItems, defaultMaxItems       = 0, 4
	defaultFloatMin, defaultFloatMax       = 0.0, 1000.0
	defaultDictSize                        = 16
	maxLen                                 = 1 << 20 // per value: a guard against a typo that would exhaust memory
	daySeconds                       int64 = 86400
)

// Seeds of the parts of a node, so that a value, its length and its children never share a hash stream.
const (
	partValue = iota + 1
	partLength
	partNull
	partDistinct
	partChild // + child index
)

// column is a compiled column: its field, its generator and what decides its nulls and coordinates.
type column struct {
	field    arrow.Field
	gen      gen
	nullSeed uint64
	nullAll  bool   // null_rate 1
	nullThr  uint64 // a row is null when hash(nullSeed, row) < nullThr
	distSeed uint64
	distinct uint64 // > 0: the coordinate is a bucket of the row in [0, distinct)
}

// parsedColumn is what validation learns about a column once, before any run instance is known.
type parsedColumn struct {
	cfg  Column
	path string
	dt   arrow.DataType
}

// validate checks the config and returns the parsed columns; every problem is a stage.FieldError.
func validate(cfg *Config) ([]parsedColumn, error) {
	var errs []error
	fail := func(path, format string, args ...any) { errs = append(errs, stage.FieldErrorf(path, format, args...)) }

	if cfg.Unbounded == nil {
		if cfg.Rows <= 0 {
			fail("rows", "rows must be at least 1 in bounded mode (or set unbounded: to generate without end), not %d", cfg.Rows)
		}
		switch {
		case cfg.Partition.Rows > 0 && cfg.Partition.Count > 0:
			fail("partition", "set partition.rows or partition.count, not both")
		case cfg.Rows > 0 && int64(cfg.Partition.Count) > cfg.Rows:
			fail("partition.count", "%d partitions for %d rows would leave some empty; use at most %d", cfg.Partition.Count, cfg.Rows, cfg.Rows)
		}
	} else {
		if cfg.Rows != 0 {
			fail("rows", "rows applies to bounded mode; an unbounded generator cuts partitions by unbounded.roll instead")
		}
		if cfg.Partition != (PartitionConfig{}) {
			fail("partition", "partition applies to bounded mode; an unbounded generator cuts partitions by unbounded.roll instead")
		}
		u := cfg.Unbounded
		if u.Roll.Rows <= 0 && u.Roll.Bytes <= 0 && u.Roll.Interval <= 0 {
			fail("unbounded.roll", "set at least one of roll.rows, roll.bytes or roll.interval, or partitions never end")
		}
	}

	seen := map[string]int{}
	var cols []parsedColumn
	for i, c := range cfg.Columns {
		path := fmt.Sprintf("columns[%d]", i)
		if c.Name == "" {
			fail(path+".name", "a column needs a name")
		} else if j, dup := seen[c.Name]; dup {
			fail(path+".name", "column %q is already declared at columns[%d]", c.Name, j)
		} else {
			seen[c.Name] = i
		}
		dt, err := arrowtype.Parse(c.Type)
		if err != nil {
			errs = append(errs, &stage.FieldError{Path: path + ".type", Err: err})
			continue
		}
		if c.NullRate < 0 || c.NullRate > 1 || math.IsNaN(c.NullRate) {
			fail(path+".null_rate", "null_rate must be between 0 and 1, not %g", c.NullRate)
		}
		if c.Distinct < 0 {
			fail(path+".distinct", "distinct must be positive (or 0 for no limit), not %d", c.Distinct)
		}
		if c.Sequence {
			if !arrow.IsInteger(dt.ID()) {
				fail(path+".sequence", "sequence applies to integer columns, not %s", arrowtype.Format(dt))
			}
			if c.Distinct > 0 {
				fail(path+".sequence", "a sequence is unique; it cannot also have distinct")
			}
			if c.Max != nil {
				fail(path+".max", "a sequence has no max: it counts rows from min")
			}
		}
		if c.Min != nil && c.Max != nil && *c.Min > *c.Max {
			fail(path+".min", "min %g is greater than max %g", *c.Min, *c.Max)
		}
		// Compiling against a sample run instance finds range errors (min below the type's range, ...) now.
		if _, err := compileNode(dt, c, path, 0, stage.RunInstance{}); err != nil {
			errs = append(errs, err)
			continue
		}
		if c.Sequence && c.Min != nil && cfg.Unbounded == nil && cfg.Rows > 0 {
			if _, hi := intRange(dt.ID()); *c.Min+float64(cfg.Rows-1) > hi {
				fail(path+".sequence", "a sequence of %d rows from %g overflows %s", cfg.Rows, *c.Min, arrowtype.Format(dt))
			}
		} else if c.Sequence && cfg.Unbounded == nil && cfg.Rows > 0 {
			if _, hi := intRange(dt.ID()); float64(cfg.Rows-1) > hi {
				fail(path+".sequence", "a sequence of %d rows overflows %s; use a wider integer type", cfg.Rows, arrowtype.Format(dt))
			}
		}
		cols = append(cols, parsedColumn{cfg: c, path: path, dt: dt})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cols, nil
}

// compile builds the generators of one run instance: seeds follow the config seed, the run's label and the
// column index, and the default temporal range follows the run's bounds.
func compile(seed int64, cols []parsedColumn, run stage.RunInstance) ([]column, error) {
	lh := fnv.New64a()
	lh.Write([]byte(run.Label))
	runSeed := hash(uint64(seed), lh.Sum64())
	out := make([]column, len(cols))
	for i, pc := range cols {
		colSeed := hash(runSeed, uint64(i))
		g, err := compileNode(pc.dt, pc.cfg, pc.path, colSeed, run)
		if err != nil {
			return nil, err
		}
		c := column{
			field:    arrow.Field{Name: pc.cfg.Name, Type: pc.dt, Nullable: pc.cfg.NullRate > 0},
			gen:      g,
			nullSeed: hash(colSeed, partNull),
			distSeed: hash(colSeed, partDistinct),
		}
		switch r := pc.cfg.NullRate; {
		case r >= 1:
			c.nullAll = true
		case r > 0:
			c.nullThr = uint64(r * (1 << 64))
		}
		if pc.cfg.Distinct > 0 && pc.dt.ID() != arrow.DICTIONARY {
			c.distinct = uint64(pc.cfg.Distinct)
		}
		out[i] = c
	}
	return out, nil
}

// intLimit is the range of an integer type, or of a type stored as one.
type intLimit struct {
	min int64
	max uint64
}

// intLimits holds the types whose range is not int64's.
var intLimits = map[arrow.Type]intLimit{
	arrow.INT8: {math.MinInt8, math.MaxInt8}, arrow.INT16: {math.MinInt16, math.MaxInt16},
	arrow.INT32: {math.MinInt32, math.MaxInt32}, arrow.DATE32: {math.MinInt32, math.MaxInt32}, arrow.TIME32: {math.MinInt32, math.MaxInt32},
	arrow.UINT8: {0, math.MaxUint8}, arrow.UINT16: {0, math.MaxUint16}, arrow.UINT32: {0, math.MaxUint32}, arrow.UINT64: {0, math.MaxUint64},
}

func limitOf(id arrow.Type) intLimit {
	if l, ok := intLimits[id]; ok {
		return l
	}
	return intLimit{math.MinInt64, math.MaxInt64}
}

// intRange is the smallest and largest value of an integer type, as float64.
func intRange(id arrow.Type) (lo, hi float64) {
	l := limitOf(id)
	return float64(l.min), float64(l.max)
}

// intBits is the smallest and largest value of an integer type as 64-bit patterns.
func intBits(id arrow.Type) (lo, hi uint64) {
	l := limitOf(id)
	return uint64(l.min), l.max
}

// compileNode builds the generator of a value of type dt. c carries the column's settings, which apply to the
// top level only (nested values use defaults); path names the column in errors.
func compileNode(dt arrow.DataType, c Column, path string, seed uint64, run stage.RunInstance) (gen, error) {
	bad := func(key, format string, args ...any) error {
		return stage.FieldErrorf(path+"."+key, format, args...)
	}
	noRange := func() error {
		if c.Min != nil {
			return bad("min", "min and max do not apply to %s", arrowtype.Format(dt))
		}
		if c.Max != nil {
			return bad("max", "min and max do not apply to %s", arrowtype.Format(dt))
		}
		return nil
	}
	lengths := func(defLo, defHi int) (int, int, error) {
		lo, hi := defLo, defHi
		for _, b := range []struct {
			key string
			v   *float64
			dst *int
		}{{"min", c.Min, &lo}, {"max", c.Max, &hi}} {
			if b.v == nil {
				continue
			}
			if *b.v < 0 || *b.v > maxLen || *b.v != math.Trunc(*b.v) {
				return 0, 0, bad(b.key, "a length must be a whole number from 0 to %d, not %g", maxLen, *b.v)
			}
			*b.dst = int(*b.v)
		}
		if c.Min != nil && c.Max == nil && hi < lo {
			hi = lo
		}
		if c.Max != nil && c.Min == nil && lo > hi {
			lo = hi
		}
		return lo, hi, nil
	}
	// ints returns base and span of a uniform draw over whole numbers in [lo, hi] (in the type's units),
	// narrowed by min and max, which are given in seconds and hold num/den units each.
	ints := func(lo, hi float64, num, den float64) (uint64, uint64, error) {
		tlo, thi := intRange(dt.ID())
		if c.Min != nil {
			lo = math.Ceil(*c.Min * num / den)
			if lo < tlo || lo > thi {
				return 0, 0, bad("min", "min %g is outside the range of %s", *c.Min, arrowtype.Format(dt))
			}
		}
		if c.Max != nil {
			hi = math.Floor(*c.Max * num / den)
			if hi < tlo || hi > thi {
				return 0, 0, bad("max", "max %g is outside the range of %s", *c.Max, arrowtype.Format(dt))
			}
		}
		if lo > hi {
			return 0, 0, bad("min", "no whole %s value lies between min and max", arrowtype.Format(dt))
		}
		base, top := toU64(lo), toU64(hi)
		if hi >= thi { // float64 cannot hold the top of int64 exactly
			_, top = intBits(dt.ID())
		}
		return base, top - base + 1, nil // wraps to 0 for the full 64-bit range, which below reads as 2^64
	}
	valSeed := hash(seed, partValue)
	lenSeed := hash(seed, partLength)
	child := func(i int, t arrow.DataType) (gen, error) {
		return compileNode(t, Column{}, path, hash(seed, partChild+uint64(i)), run)
	}

	switch t := dt.(type) {
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
		*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type:
		lo, hi := intRange(dt.ID())
		if c.Sequence {
			lo = 0
		}
		base, span, err := ints(lo, hi, 1, 1)
		if err != nil {
			return nil, err
		}
		return intGens[dt.ID()](dt, valSeed, base, span, 1, c.Sequence), nil

	case *arrow.Float16Type, *arrow.Float32Type, *arrow.Float64Type:
		lo, hi := defaultFloatMin, defaultFloatMax
		if c.Min != nil {
			lo = *c.Min
			if c.Max == nil && hi < lo {
				hi = lo + (defaultFloatMax - defaultFloatMin)
			}
		}
		if c.Max != nil {
			hi = *c.Max
			if c.Min == nil && lo > hi {
				lo = hi - (defaultFloatMax - defaultFloatMin)
			}
		}
		if math.IsInf(hi-lo, 0) || math.IsNaN(hi-lo) {
			return nil, bad("max", "the range from min to max must be finite")
		}
		return &floatGen{dt: dt, seed: valSeed, lo: lo, hi: hi}, nil

	case *arrow.BooleanType:
		return &boolGen{seed: valSeed}, noRange()

	case *arrow.NullType:
		return nullGen{}, noRange()

	case *arrow.StringType, *arrow.LargeStringType, *arrow.BinaryType, *arrow.LargeBinaryType:
		lo, hi, err := lengths(defaultMinLen, defaultMaxLen)
		if err != nil {
			return nil, err
		}
		id := dt.ID()
		return &bytesGen{dt: dt, lenSeed: lenSeed, seed: valSeed, minLen: lo, maxLen: hi,
			ascii: id == arrow.STRING || id == arrow.LARGE_STRING,
			large: id == arrow.LARGE_STRING || id == arrow.LARGE_BINARY}, nil

	case *arrow.FixedSizeBinaryType:
		return &bytesGen{dt: dt, seed: valSeed, fixed: t.ByteWidth}, noRange()

	case *extensions.UUIDType:
		storage := &bytesGen{dt: t.StorageType(), seed: valSeed, fixed: 16, uuid: true}
		return &extGen{dt: t, storage: storage}, noRange()

	case *extensions.JSONType:
		lo, hi, err := lengths(defaultMinLen, defaultMaxLen)
		if err != nil {
			return nil, err
		}
		storage := &bytesGen{dt: t.StorageType(), lenSeed: lenSeed, seed: valSeed, minLen: lo, maxLen: hi, ascii: true, json: true}
		return &extGen{dt: t, storage: storage}, nil

	case *arrow.Decimal128Type, *arrow.Decimal256Type:
		dec := dt.(arrow.DecimalType)
		g := &decimalGen{dt: dt, seed: valSeed, words: 2, precision: int(dec.GetPrecision())}
		if dt.ID() == arrow.DECIMAL256 {
			g.words = 4
		}
		if c.Min == nil && c.Max == nil {
			return g, nil
		}
		// Bounded decimals are drawn as int64 unscaled values: enough for any range a test asks for.
		scale := math.Pow(10, float64(dec.GetScale()))
		limit := math.Min(math.Pow(10, float64(dec.GetPrecision())), 9e18)
		lo, hi := -limit+1, limit-1
		if c.Min != nil {
			lo = math.Ceil(*c.Min * scale)
		}
		if c.Max != nil {
			hi = math.Floor(*c.Max * scale)
		}
		if lo <= -limit || lo >= limit {
			return nil, bad("min", "min %g does not fit %s (or exceeds ±9e18 unscaled)", *c.Min, arrowtype.Format(dt))
		}
		if hi <= -limit || hi >= limit {
			return nil, bad("max", "max %g does not fit %s (or exceeds ±9e18 unscaled)", *c.Max, arrowtype.Format(dt))
		}
		if lo > hi {
			return nil, bad("min", "no %s value lies between min and max", arrowtype.Format(dt))
		}
		g.bounded, g.lo, g.span = true, uint64(int64(lo)), uint64(int64(hi)-int64(lo))+1
		return g, nil

	case *arrow.Date32Type, *arrow.Date64Type:
		lo, hi := dayRange(run)
		base, span, err := ints(float64(lo), float64(hi), 1, float64(daySeconds))
		if err != nil {
			return nil, err
		}
		mul := uint64(1) // days
		if dt.ID() == arrow.DATE64 {
			mul = uint64(daySeconds * 1000) // milliseconds
		}
		return intGens[dt.ID()](dt, valSeed, base, span, mul, false), nil

	case *arrow.TimestampType:
		per := perSecond(t.Unit)
		start, end := run.Start, run.End
		if start.IsZero() || end.IsZero() || !end.After(start) {
			start, end = defaultStart, defaultEnd
		}
		base, span, err := ints(float64(inUnit(start, t.Unit)), float64(inUnit(end, t.Unit)-1), float64(per), 1)
		if err != nil {
			return nil, err
		}
		return intGens[dt.ID()](dt, valSeed, base, span, 1, false), nil

	case *arrow.Time32Type, *arrow.Time64Type, *arrow.DurationType:
		// Times of day, and durations of up to a day.
		per := perSecond(dt.(arrow.TemporalWithUnit).TimeUnit())
		base, span, err := ints(0, float64(daySeconds*per-1), float64(per), 1)
		if err != nil {
			return nil, err
		}
		return intGens[dt.ID()](dt, valSeed, base, span, 1, false), nil

	case *arrow.ListType, *arrow.LargeListType:
		lo, hi, err := lengths(defaultMinItems, defaultMaxItems)
		if err != nil {
			return nil, err
		}
		elem, err := child(0, dt.(arrow.ListLikeType).Elem())
		if err != nil {
			return nil, err
		}
		return &listGen{dt: dt, lenSeed: lenSeed, minLen: lo, maxLen: hi, large: dt.ID() == arrow.LARGE_LIST, fixed: -1, child: elem}, nil

	case *arrow.FixedSizeListType:
		elem, err := child(0, t.Elem())
		if err != nil {
			return nil, err
		}
		return &listGen{dt: dt, fixed: int(t.Len()), child: elem}, noRange()

	case *arrow.MapType:
		lo, hi, err := lengths(defaultMinItems, defaultMaxItems)
		if err != nil {
			return nil, err
		}
		entries := t.Elem().(*arrow.StructType)
		key, err := child(0, t.KeyType())
		if err != nil {
			return nil, err
		}
		item, err := child(1, t.ItemType())
		if err != nil {
			return nil, err
		}
		return &listGen{dt: dt, lenSeed: lenSeed, minLen: lo, maxLen: hi, fixed: -1,
			child: &structGen{dt: entries, children: []gen{key, item}}}, nil

	case *arrow.StructType:
		if err := noRange(); err != nil {
			return nil, err
		}
		g := &structGen{dt: dt}
		for i, f := range t.Fields() {
			cg, err := child(i, f.Type)
			if err != nil {
				return nil, err
			}
			g.children = append(g.children, cg)
		}
		return g, nil

	case *arrow.DictionaryType:
		size := defaultDictSize
		if c.Distinct > 0 {
			size = c.Distinct
		}
		if _, hi := intRange(t.IndexType.ID()); float64(size-1) > hi {
			return nil, bad("distinct", "%d dictionary values do not fit index type %s", size, arrowtype.Format(t.IndexType))
		}
		// min and max shape the dictionary's values.
		values, err := compileNode(t.ValueType, Column{Min: c.Min, Max: c.Max}, path, hash(seed, partChild), run)
		if err != nil {
			return nil, err
		}
		index := indexGen(t.IndexType, hash(seed, partValue), uint64(size))
		return &dictGen{dt: t, values: values, index: index, size: size}, nil
	}
	return nil, stage.FieldErrorf(path+".type", "the generator cannot make %s values", arrowtype.Format(dt))
}

// intGens makes the generator of each type whose values are integers, instantiated for their Go type.
var intGens = map[arrow.Type]func(dt arrow.DataType, seed, base, span, mul uint64, sequence bool) gen{
	arrow.INT8: newIntGen[int8], arrow.INT16: newIntGen[int16], arrow.INT32: newIntGen[int32], arrow.INT64: newIntGen[int64],
	arrow.UINT8: newIntGen[uint8], arrow.UINT16: newIntGen[uint16], arrow.UINT32: newIntGen[uint32], arrow.UINT64: newIntGen[uint64],
	arrow.DATE32: newIntGen[int32], arrow.DATE64: newIntGen[int64], arrow.TIMESTAMP: newIntGen[int64],
	arrow.TIME32: newIntGen[int32], arrow.TIME64: newIntGen[int64], arrow.DURATION: newIntGen[int64],
}

func newIntGen[T integer](dt arrow.DataType, seed, base, span, mul uint64, sequence bool) gen {
	return &intGen[T]{dt: dt, seed: seed, base: base, span: span, mul: mul, sequence: sequence}
}

// indexGen draws dictionary indices of integer type dt from [0, size).
func indexGen(dt arrow.DataType, seed, size uint64) gen {
	if newGen, ok := intGens[dt.ID()]; ok {
		return newGen(dt, seed, 0, size, 1, false)
	}
	return &intGen[int64]{dt: dt, seed: seed, span: size, mul: 1}
}

func perSecond(u arrow.TimeUnit) int64 {
	return [...]int64{arrow.Second: 1, arrow.Millisecond: 1e3, arrow.Microsecond: 1e6, arrow.Nanosecond: 1e9}[u]
}

func inUnit(t time.Time, u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return t.Unix()
	case arrow.Millisecond:
		return t.UnixMilli()
	case arrow.Microsecond:
		return t.UnixMicro()
	}
	return t.UnixNano()
}

// dayRange is the days since the epoch of the run instance [Start, End) (else 2020..2030), last day included.
func dayRange(run stage.RunInstance) (lo, hi int64) {
	start, end := run.Start, run.End
	if start.IsZero() || end.IsZero() || !end.After(start) {
		start, end = defaultStart, defaultEnd
	}
	lo = civil.FloorDiv(start.Unix(), daySeconds)
	hi = civil.FloorDiv(end.Unix()-1, daySeconds)
	return lo, hi
}

// toU64 converts a whole float to its 64-bit two's complement pattern, saturating at the uint64 top.
func toU64(f float64) uint64 {
	switch {
	case f < 0:
		return uint64(int64(f))
	case f >= math.MaxUint64:
		return math.MaxUint64
	}
	return uint64(f)
}
