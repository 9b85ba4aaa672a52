package arrowtype

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

var names = map[arrow.Type]string{
	arrow.NULL: "null", arrow.BOOL: "bool",
	arrow.INT8: "int8", arrow.INT16: "int16", arrow.INT32: "int32", arrow.INT64: "int64",
	arrow.UINT8: "uint8", arrow.UINT16: "uint16", arrow.UINT32: "uint32", arrow.UINT64: "uint64",
	arrow.FLOAT16: "float16", arrow.FLOAT32: "float32", arrow.FLOAT64: "float64",
	arrow.STRING: "string", arrow.LARGE_STRING: "large_string",
	arrow.BINARY: "binary", arrow.LARGE_BINARY: "large_binary",
	arrow.DATE32: "date32", arrow.DATE64: "date64",
}

var unitNames = [...]string{arrow.Second: "s", arrow.Millisecond: "ms", arrow.Microsecond: "us", arrow.Nanosecond: "ns"}

// Format writes the canonical text of dt, which Parse reads back to an equal type. Child field names of lists
// and maps, and field metadata, are not part of the text. A type the grammar has no form for (unions, views,
// intervals, other extension types) is written as Arrow's own String(), which Parse rejects.
func Format(dt arrow.DataType) string {
	var b strings.Builder
	format(&b, dt)
	return b.String()
}

func format(b *strings.Builder, dt arrow.DataType) {
	if dt == nil {
		b.WriteString("<nil>")
		return
	}
	if n, ok := names[dt.ID()]; ok {
		b.WriteString(n)
		return
	}
	switch t := dt.(type) {
	case *arrow.FixedSizeBinaryType:
		fmt.Fprintf(b, "fixed_size_binary(%d)", t.ByteWidth)
	case *arrow.Decimal128Type:
		fmt.Fprintf(b, "decimal(%d,%d)", t.Precision, t.Scale)
	case *arrow.Decimal256Type:
		if t.Precision > 38 {
			fmt.Fprintf(b, "decimal(%d,%d)", t.Precision, t.Scale)
		} else {
			fmt.Fprintf(b, "decimal256(%d,%d)", t.Precision, t.Scale)
		}
	case *arrow.Time32Type:
		fmt.Fprintf(b, "time32[%s]", unitNames[t.Unit])
	case *arrow.Time64Type:
		fmt.Fprintf(b, "time64[%s]", unitNames[t.Unit])
	case *arrow.DurationType:
		fmt.Fprintf(b, "duration[%s]", unitNames[t.Unit])
	case *arrow.TimestampType:
		if t.TimeZone == "" {
			fmt.Fprintf(b, "timestamp[%s]", unitNames[t.Unit])
		} else {
			fmt.Fprintf(b, "timestamp[%s, %s]", unitNames[t.Unit], t.TimeZone)
		}
	case *arrow.ListType:
		b.WriteString("list<")
		child(b, t.ElemField())
		b.WriteByte('>')
	case *arrow.LargeListType:
		b.WriteString("large_list<")
		child(b, t.ElemField())
		b.WriteByte('>')
	case *arrow.FixedSizeListType:
		b.WriteString("fixed_size_list<")
		child(b, t.ElemField())
		fmt.Fprintf(b, ", %d>", t.Len())
	case *arrow.MapType:
		b.WriteString("map<")
		format(b, t.KeyType())
		b.WriteString(", ")
		child(b, t.ItemField())
		b.WriteByte('>')
	case *arrow.StructType:
		b.WriteString("struct<")
		for i, f := range t.Fields() {
			if i > 0 {
				b.WriteString(", ")
			}
			writeName(b, f.Name)
			b.WriteString(": ")
			child(b, f)
		}
		b.WriteByte('>')
	case *arrow.DictionaryType:
		b.WriteString("dictionary<")
		format(b, t.ValueType)
		b.WriteString(", ")
		format(b, t.IndexType)
		if t.Ordered {
			b.WriteString(", ordered")
		}
		b.WriteByte('>')
	case *extensions.UUIDType:
		b.WriteString("uuid")
	case *extensions.JSONType:
		if arrow.TypeEqual(t.StorageType(), arrow.BinaryTypes.String) {
			b.WriteString("json")
		} else {
			b.WriteString(dt.String())
		}
	default:
		b.WriteString(dt.String())
	}
}

func child(b *strings.Builder, f arrow.Field) {
	format(b, f.Type)
	if !f.Nullable {
		b.WriteString(" not null")
	}
}

// writeName writes a struct field name bare when it is an identifier, else in backticks.
func writeName(b *strings.Builder, name string) {
	bare := name != ""
	for i := 0; i < len(name) && bare; i++ {
		bare = isIdentChar(name[i]) && (i > 0 || isIdentStart(name[i]))
	}
	if bare {
		b.WriteString(name)
		return
	}
	b.WriteByte('`')
	b.WriteString(strings.ReplaceAll(name, "`", "``"))
	b.WriteByte('`')
}
