package sqlsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// OutError carries the receiver's error through a read loop (or a driver's callback) so that Read returns it
// unwrapped.
type OutError struct{ Err error }

func (e *OutError) Error() string { return e.Err.Error() }

// Emit hands arrs over to out as one batch of rows. It releases the arrays (setting the entries to nil, so arrs
// is reused for the next batch) and, when out returns, the batch: out retains what it keeps. It returns out's
// error as is; a read loop that goes on wraps it in an *OutError.
func Emit(schema *arrow.Schema, arrs []arrow.Array, rows int, out func(arrow.RecordBatch) error) error {
	rec := array.NewRecordBatch(schema, arrs, int64(rows))
	for i, a := range arrs {
		a.Release()
		arrs[i] = nil
	}
	err := out(rec)
	rec.Release()
	return err
}

// Stopped returns what Read returns for err, which ended the read of partition key after rows rows, when the
// receiver failed (its error, as is) or ctx ended; ok is false when it is the source's own failure, which the
// consumer describes (ReadFailed).
func Stopped(ctx context.Context, source, key string, rows int64, err error) (_ error, ok bool) {
	var fail *OutError
	switch {
	case errors.As(err, &fail):
		return fail.Err, true
	case ctx.Err() != nil:
		return fmt.Errorf("%s: partition %s stopped after %d rows: %w", source, key, rows, ctx.Err()), true
	}
	return nil, false
}

// ReadFailed is what a source's failure mid-read says about it.
func ReadFailed(key string, rows int64) string {
	return fmt.Sprintf("partition %s: read failed after %d rows (a retry reads the partition again whole)", key, rows)
}
