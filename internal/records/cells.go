package records

import (
	"cmp"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// formatValue writes row i of arr as canonical text: what a diff shows, and what two cells are compared by.
// Numbers print in their shortest exact form, decimals with their scale (12.50 in decimal(9,2)), strings quoted,
// timestamps as RFC 3339 in UTC, lists as [a, b], structs as {name: value}, and null as null.
func formatValue(sb *strings.Builder, arr arrow.Array, i int) {
	if arr.IsNull(i) {
		sb.WriteString("null")
		return
	}
	switch a := arr.(type) {
	case *array.Boolean:
		sb.WriteString(strconv.FormatBool(a.Value(i)))
	case *array.Int8:
		sb.WriteString(strconv.FormatInt(int64(a.Value(i)), 10))
	case *array.Int16:
		sb.WriteString(strconv.FormatInt(int64(a.Value(i)), 10))
	case *array.Int32:
		sb.WriteString(strconv.FormatInt(int64(a.Value(i)), 10))
	case *array.Int64:
		sb.WriteString(strconv.FormatInt(a.Value(i), 10))
	case *array.Uint8:
		sb.WriteString(strconv.FormatUint(uint64(a.Value(i)), 10))
	case *array.Uint16:
		sb.WriteString(strconv.FormatUint(uint64(a.Value(i)), 10))
	case *array.Uint32:
		sb.WriteString(strconv.FormatUint(uint64(a.Value(i)), 10))
	case *array.Uint64:
		sb.WriteString(strconv.FormatUint(a.Value(i), 10))
	case *array.Float32:
		sb.WriteString(strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32))
	case *array.Float64:
		sb.WriteString(strconv.FormatFloat(a.Value(i), 'g', -1, 64))
	case *array.String:
		sb.WriteString(strconv.Quote(a.Value(i)))
	case *array.LargeString:
		sb.WriteString(strconv.Quote(a.Value(i)))
	case *array.StringView:
		sb.WriteString(strconv.Quote(a.Value(i)))
	case *array.Binary:
		sb.WriteString(quoteBytes(a.Value(i)))
	case *array.LargeBinary:
		sb.WriteString(quoteBytes(a.Value(i)))
	case *array.BinaryView:
		sb.WriteString(quoteBytes(a.Value(i)))
	case *array.FixedSizeBinary:
		sb.WriteString(quoteBytes(a.Value(i)))
	case *array.Decimal32:
		sb.WriteString(a.Value(i).ToString(a.DataType().(arrow.DecimalType).GetScale()))
	case *array.Decimal64:
		sb.WriteString(a.Value(i).ToString(a.DataType().(arrow.DecimalType).GetScale()))
	case *array.Decimal128:
		sb.WriteString(a.Value(i).ToString(a.DataType().(arrow.DecimalType).GetScale()))
	case *array.Decimal256:
		sb.WriteString(a.Value(i).ToString(a.DataType().(arrow.DecimalType).GetScale()))
	case *array.Date32:
		sb.WriteString(a.Value(i).ToTime().Format(time.DateOnly))
	case *array.Date64:
		sb.WriteString(a.Value(i).ToTime().Format(time.DateOnly))
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		sb.WriteString(a.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano))
	case array.ListLike: // list, large list, fixed-size list, map (a list of key/value structs)
		start, end := a.ValueOffsets(i)
		values := a.ListValues()
		sb.WriteByte('[')
		for j := start; j < end; j++ {
			if j > start {
				sb.WriteString(", ")
			}
			formatValue(sb, values, int(j))
		}
		sb.WriteByte(']')
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		sb.WriteByte('{')
		for f := 0; f < a.NumField(); f++ {
			if f > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(st.Field(f).Name)
			sb.WriteString(": ")
			formatValue(sb, a.Field(f), i)
		}
		sb.WriteByte('}')
	case *array.Dictionary:
		formatValue(sb, a.Dictionary(), a.GetValueIndex(i))
	default: // times, durations, intervals: arrow's own text is exact
		sb.WriteString(arr.ValueStr(i))
	}
}

func quoteBytes(b []byte) string { return strconv.Quote(string(b)) }

// cellText returns row i of arr as formatValue writes it.
func cellText(sb *strings.Builder, arr arrow.Array, i int) string {
	sb.Reset()
	formatValue(sb, arr, i)
	return sb.String()
}

// compareCells orders rows i and j of arr: nulls first, then by value for the types whose text does not sort
// like their values (numbers, times), and by canonical text otherwise.
func compareCells(sb *strings.Builder, arr arrow.Array, i, j int) int {
	ni, nj := arr.IsNull(i), arr.IsNull(j)
	switch {
	case ni && nj:
		return 0
	case ni:
		return -1
	case nj:
		return 1
	}
	switch a := arr.(type) {
	case *array.Int8:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Int16:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Int32:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Int64:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Uint8:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Uint16:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Uint32:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Uint64:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Float32:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Float64:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Date32:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Date64:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Timestamp:
		return cmp.Compare(a.Value(i), a.Value(j))
	case *array.Decimal128:
		return a.Value(i).Cmp(a.Value(j))
	case *array.Decimal256:
		return a.Value(i).Cmp(a.Value(j))
	case *array.Boolean:
		return cmp.Compare(b2i(a.Value(i)), b2i(a.Value(j)))
	case *array.String:
		return strings.Compare(a.Value(i), a.Value(j))
	case *array.LargeString:
		return strings.Compare(a.Value(i), a.Value(j))
	}
	x := cellText(sb, arr, i)
	return strings.Compare(x, cellText(sb, arr, j))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CellText returns row i of arr in the canonical text DiffRecords compares and reports cells by: 12.50 for a
// decimal(9,2), "text" quoted, 2026-11-22T10:00:00Z for a timestamp, [1, null] for a list, null for a null.
func CellText(arr arrow.Array, i int) string {
	var sb strings.Builder
	formatValue(&sb, arr, i)
	return sb.String()
}
