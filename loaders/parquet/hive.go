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
	cols   []int    // partition column indices in the input schema
	names  []string // escaped column names
	dict   groupby.Dict
	keys   []int64
	groups groupby.Grouper
}

func newSplitter(schema *arrow.Schema, partitionBy []string) *splitter {
	s := &splitter{}
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
	s.keys = s.groups.Start(n)
	for _, ci := range s.cols {
		col := rec.Column(ci)
		if !groupby.IntKeys(col, s.keys) && !s.dict.StringKeys(col, s.keys) {
			// CheckSchema admits only integer-like, boolean and string columns.
			panic(fmt.Sprintf("parquet loader: partition column of type %s", col.DataType()))
		}
		var null func(int) bool
		if col.NullN() > 0 {
			null = col.IsNull
		}
		s.groups.Refine(s.keys, null)
	}
	return s.groups.Finish()
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
