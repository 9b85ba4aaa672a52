package parquet

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// hiveDefaultPartition is the directory value Hive, Spark and DuckDB read back as NULL.
const hiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

func hivePartitionType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.DATE32, arrow.BOOL:
		return true
	}
	return false
}

// hiveEscape escapes a path component as Hive's FileUtils.escapePathName does, so that Hive-aware readers
// unescape it to the original value.
func hiveEscape(s string) string {
	need := false
	for i := 0; i < len(s); i++ {
		if hiveUnsafe(s[i]) {
			need = true
			break
		}
	}
	if !need {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if hiveUnsafe(c) {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func hiveUnsafe(c byte) bool {
	if c < 0x20 || c == 0x7f {
		return true
	}
	switch c {
	case '"', '#', '%', '\'', '*', '/', ':', '=', '?', '\\', '{', '[', ']', '^':
		return true
	}
	return false
}

// groupKey identifies a combination of partition values: the group of the columns before, this column's value
// (an integer, or a string's index in the batch's dictionary) and whether it is null.
type groupKey struct {
	prev int32
	val  int64
	null bool
}

// splitter assigns the rows of a batch to Hive partition groups. It is reused across batches so that the maps
// keep their capacity: per row it does one map lookup per partition column and allocates nothing.
type splitter struct {
	cols    []int    // partition column indices in the input schema
	names   []string // escaped column names
	strDict map[string]int64
	groups  map[groupKey]int32
	rowGrp  []int32 // group of each row of the current batch, per column pass
	first   []int   // first row of each final group
	counts  []int
}

func newSplitter(schema *arrow.Schema, partitionBy []string) *splitter {
	s := &splitter{strDict: map[string]int64{}, groups: map[groupKey]int32{}}
	for _, name := range partitionBy {
		s.cols = append(s.cols, schema.FieldIndices(name)[0])
		s.names = append(s.names, hiveEscape(name))
	}
	return s
}

// split fills rowGrp with each row's group and returns the number of groups; first and counts describe them.
func (s *splitter) split(rec arrow.RecordBatch) int {
	n := int(rec.NumRows())
	if cap(s.rowGrp) < n {
		s.rowGrp = make([]int32, n)
	}
	s.rowGrp = s.rowGrp[:n]
	clear(s.rowGrp)
	ngroups := int32(1)
	for _, ci := range s.cols {
		clear(s.groups)
		clear(s.strDict)
		col := rec.Column(ci)
		ngroups = 0
		assign := func(i int, v int64, null bool) {
			k := groupKey{prev: s.rowGrp[i], val: v, null: null}
			g, ok := s.groups[k]
			if !ok {
				g = ngroups
				s.groups[k] = g
				ngroups++
			}
			s.rowGrp[i] = g
		}
		switch a := col.(type) {
		case *array.Int8:
			for i, v := range a.Int8Values() {
				assign(i, int64(v), a.IsNull(i))
			}
		case *array.Int16:
			for i, v := range a.Int16Values() {
				assign(i, int64(v), a.IsNull(i))
			}
		case *array.Int32:
			for i, v := range a.Int32Values() {
				assign(i, int64(v), a.IsNull(i))
			}
		case *array.Int64:
			for i, v := range a.Int64Values() {
				assign(i, v, a.IsNull(i))
			}
		case *array.Uint8:
			for i, v := range a.Uint8Values() {
				assign(i, int64(v), a.IsNull(i))
			}
		case *array.Uint16:
			for i, v := range a.Uint16Values() {
				assign(i, int64(v), a.IsNull(i))
			}
		case *array.Uint32:
			for i, v := range a.Uint32Values() {
				assign(i, int64(v), a.IsNull(i))
			}
		case *array.Uint64:
			for i, v := range a.Uint64Values() {
				assign(i, int64(v), a.IsNull(i)) // bit pattern: distinct values stay distinct
			}
		case *array.Date32:
			for i, v := range a.Date32Values() {
				assign(i, int64(v), a.IsNull(i))
			}
		case *array.Boolean:
			for i := 0; i < n; i++ {
				var v int64
				if a.Value(i) {
					v = 1
				}
				assign(i, v, a.IsNull(i))
			}
		case *array.String:
			for i := 0; i < n; i++ {
				assign(i, s.strID(a.Value(i)), a.IsNull(i))
			}
		case *array.LargeString:
			for i := 0; i < n; i++ {
				assign(i, s.strID(a.Value(i)), a.IsNull(i))
			}
		default:
			// CheckSchema admits only the types above.
			panic(fmt.Sprintf("parquet loader: partition column of type %s", col.DataType()))
		}
	}
	s.first = s.first[:0]
	s.counts = s.counts[:0]
	for range ngroups {
		s.first = append(s.first, -1)
		s.counts = append(s.counts, 0)
	}
	for i, g := range s.rowGrp {
		if s.first[g] < 0 {
			s.first[g] = i
		}
		s.counts[g]++
	}
	return int(ngroups)
}

// strID maps a string to a small id within the batch. The lookup with an existing key does not allocate;
// a new key is cloned because the batch's memory is released after the batch is written.
func (s *splitter) strID(v string) int64 {
	id, ok := s.strDict[v]
	if !ok {
		id = int64(len(s.strDict))
		s.strDict[strings.Clone(v)] = id
	}
	return id
}

// dir renders the Hive directories ("year=2026/month=11") of the group whose first row is row.
func (s *splitter) dir(rec arrow.RecordBatch, row int) string {
	var b strings.Builder
	for j, ci := range s.cols {
		if j > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s.names[j])
		b.WriteByte('=')
		b.WriteString(hiveValue(rec.Column(ci), row))
	}
	return b.String()
}

func hiveValue(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return hiveDefaultPartition
	}
	switch a := col.(type) {
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint16:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10)
	case *array.Date32:
		return a.Value(i).ToTime().UTC().Format(time.DateOnly)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.String:
		return hiveString(a.Value(i))
	case *array.LargeString:
		return hiveString(a.Value(i))
	}
	panic(fmt.Sprintf("parquet loader: partition column of type %s", col.DataType()))
}

func hiveString(v string) string {
	if v == "" {
		// Hive writes the empty string to the default partition too: an empty directory value is not readable.
		return hiveDefaultPartition
	}
	return hiveEscape(v)
}
