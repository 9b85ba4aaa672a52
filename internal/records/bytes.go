package records

import "github.com/apache/arrow-go/v18/arrow"

// Bytes is the size of a batch's Arrow buffers. A slice counts its buffers whole, as it holds that memory.
func Bytes(b arrow.RecordBatch) int64 {
	var n int64
	for _, col := range b.Columns() {
		n += DataBytes(col.Data())
	}
	return n
}

// DataBytes is the size of an array's buffers, its children's and its dictionary's.
func DataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, buf := range d.Buffers() {
		if buf != nil {
			n += int64(buf.Len())
		}
	}
	for _, c := range d.Children() {
		n += DataBytes(c)
	}
	if d.DataType().ID() == arrow.DICTIONARY { // Dictionary() is a typed nil otherwise
		n += DataBytes(d.Dictionary())
	}
	return n
}
