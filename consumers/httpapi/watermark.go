package httpapi

import (
	"fmt"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/stage"
)

// The engine has no hook for consumer watermarks yet. These three methods are the consumer's half of the
// smallest one (see the package report): before planning, the engine passes the stored watermark to
// ResumeWatermark; after committing a partition, it stores PartitionWatermark's value under WatermarkName.

// WatermarkName names the watermark in the state store; ok is false when the consumer is not incremental.
func (c *Consumer) WatermarkName() (name string, ok bool) {
	switch {
	case c.cfg.Incremental == nil:
		return "", false
	case c.cfg.Partition.Every > 0:
		return "httpapi:windows", true
	}
	return "httpapi:" + c.cfg.Incremental.Field, true
}

// ResumeWatermark gives the consumer the stored watermark (ok false: none yet) before Partitions is called.
func (c *Consumer) ResumeWatermark(value string, ok bool) {
	c.wmMu.Lock()
	c.resume, c.resumed = value, ok
	c.wmMu.Unlock()
}

// PartitionWatermark is the watermark once partition p is committed: the greatest value of the field in the
// rows it read, at full precision. ok is false when p read no row (the stored watermark stays) or was not read
// whole by this consumer.
//
// Date windows: the window's end, so the next run starts exactly where this one stopped.
func (c *Consumer) PartitionWatermark(p stage.Partition) (value string, ok bool) {
	if c.cfg.Incremental != nil && c.cfg.Partition.Every > 0 {
		hi, ok := p.Hi.(time.Time)
		if !ok {
			return "", false
		}
		return hi.UTC().Format(time.RFC3339Nano), true
	}
	c.wmMu.Lock()
	defer c.wmMu.Unlock()
	v, ok := c.advanced[p.Key]
	return v, ok
}

// lowerBound is where an incremental read starts: the stored watermark, else incremental.initial.
func (c *Consumer) lowerBound() string {
	c.wmMu.Lock()
	defer c.wmMu.Unlock()
	if c.resumed {
		return c.resume
	}
	return c.cfg.Incremental.Initial
}

func checkWatermarkField(schema *arrow.Schema, field string) error {
	_, err := newWatermark(schema, field)
	return err
}

// watermark keeps the greatest value of one column across the batches of a partition, in the column's type.
type watermark struct {
	col   int
	id    arrow.Type
	unit  arrow.TimeUnit
	found bool
	i     int64
	s     string
}

func newWatermark(schema *arrow.Schema, field string) (*watermark, error) {
	idx := schema.FieldIndices(field)
	if len(idx) != 1 {
		return nil, fmt.Errorf("field %q is not a column of the records", field)
	}
	f := schema.Field(idx[0])
	w := &watermark{col: idx[0], id: f.Type.ID()}
	switch t := f.Type.(type) {
	case *arrow.Int64Type, *arrow.Int32Type, *arrow.StringType, *arrow.LargeStringType:
	case *arrow.TimestampType:
		w.unit = t.Unit
	default:
		return nil, fmt.Errorf("field %q is %s; a watermark is an int32, int64, timestamp or string column", field, arrowtype.Format(f.Type))
	}
	return w, nil
}

// observe folds a batch in: one pass over the column, no allocation but the greatest string.
func (w *watermark) observe(rec arrow.RecordBatch) {
	switch a := rec.Column(w.col).(type) {
	case *array.Int64:
		for i, v := range a.Int64Values() {
			if a.IsValid(i) && (!w.found || v > w.i) {
				w.i, w.found = v, true
			}
		}
	case *array.Int32:
		for i, v := range a.Int32Values() {
			if a.IsValid(i) && (!w.found || int64(v) > w.i) {
				w.i, w.found = int64(v), true
			}
		}
	case *array.Timestamp:
		for i, v := range a.TimestampValues() {
			if a.IsValid(i) && (!w.found || int64(v) > w.i) {
				w.i, w.found = int64(v), true
			}
		}
	case *array.String:
		for i := range a.Len() {
			if a.IsValid(i) && (!w.found || a.Value(i) > w.s) {
				w.s, w.found = a.Value(i), true
			}
		}
		w.s = string([]byte(w.s)) // detach from the batch's buffer, which is released after out
	case *array.LargeString:
		for i := range a.Len() {
			if a.IsValid(i) && (!w.found || a.Value(i) > w.s) {
				w.s, w.found = a.Value(i), true
			}
		}
		w.s = string([]byte(w.s))
	}
}

// text is the watermark as the state store keeps it and the API receives it: integers in decimal, timestamps
// in RFC 3339 UTC with every digit of the column's unit, strings as they are.
func (w *watermark) text() string {
	switch w.id {
	case arrow.INT64, arrow.INT32:
		return strconv.FormatInt(w.i, 10)
	case arrow.TIMESTAMP:
		return arrow.Timestamp(w.i).ToTime(w.unit).UTC().Format(time.RFC3339Nano)
	}
	return w.s
}
