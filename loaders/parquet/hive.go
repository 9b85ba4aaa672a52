package parquet

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/jetflow-dev/jetflow/internal/groupby"
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

// splitter assigns the rows of a batch to Hive partition groups. It is reused across batches so that its maps
// keep their capacity: per row it does one map lookup per partition column and allocates nothing.
type splitter struct {
	cols    []int    // partition column indices in the input schema
	names   []string // escaped column names
	strDict map[string]int64
	keys    []int64
	groups  groupby.Grouper
}

func newSplitter(schema *arrow.Schema, partitionBy []string) *splitter {
	s := &splitter{strDict: map[string]int64{}}
	for _, name := range partitionBy {
		s.cols = append(s.cols, schema.FieldIndices(name)[0])
		s.names = append(s.names, hiveEscape(name))
	}
	return s
}

// split groups the rows of rec by their partition values and returns the number of groups; s.groups describes
// them.
func (s *splitter) split(rec arrow.RecordBatch) int {
	n := int(rec.NumRows())
	if cap(s.keys) < n {
		s.keys = make([]int64, n)
	}
	s.keys = s.keys[:n]
	s.groups.Start(n)
	for _, ci := range s.cols {
		clear(s.strDict)
		col := rec.Column(ci)
		keys := s.keys
		switch a := col.(type) {
		case *array.Int8:
			for i, v := range a.Int8Values() {
				keys[i] = int64(v)
			}
		case *array.Int16:
			for i, v := range a.Int16Values() {
				keys[i] = int64(v)
			}
		case *array.Int32:
			for i, v := range a.Int32Values() {
				keys[i] = int64(v)
			}
		case *array.Int64:
			copy(keys, a.Int64Values())
		case *array.Uint8:
			for i, v := range a.Uint8Values() {
				keys[i] = int64(v)
			}
		case *array.Uint16:
			for i, v := range a.Uint16Values() {
				keys[i] = int64(v)
			}
		case *array.Uint32:
			for i, v := range a.Uint32Values() {
				keys[i] = int64(v)
			}
		case *array.Uint64:
			for i, v := range a.Uint64Values() {
				keys[i] = int64(v) // bit pattern: distinct values stay distinct
			}
		case *array.Date32:
			for i, v := range a.Date32Values() {
				keys[i] = int64(v)
			}
		case *array.Boolean:
			for i := range n {
				keys[i] = 0
				if a.Value(i) {
					keys[i] = 1
				}
			}
		case *array.String:
			for i := range n {
				keys[i] = s.strID(a.Value(i))
			}
		case *array.LargeString:
			for i := range n {
				keys[i] = s.strID(a.Value(i))
			}
		default:
			// CheckSchema admits only the types above.
			panic(fmt.Sprintf("parquet loader: partition column of type %s", col.DataType()))
		}
		var null func(int) bool
		if col.NullN() > 0 {
			null = col.IsNull
		}
		s.groups.Refine(keys, null)
	}
	return s.groups.Finish()
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
