package stage

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
)

// Key scans detect hard deletes for sources without a change log (a loader's deletes: {detect: key_scan}): the
// consumer reads only the key columns of the source, the loader deletes, in the partition's commit, the keys of
// its table that the scan did not find. The engine drives it: for a loader that asks (KeyScanLoader), it calls
// StartKeyScan on the partition writer, then the consumer's ScanKeys into WriteKeys, then reads the partition's
// rows as usual. A writer must delete only keys it held when StartKeyScan returned: a key written to the table
// after that may come from a source row the scan could not see.

// KeyScope is the part of the source a partition's key scan covers, and so the part of the table whose keys it
// may delete: the rows whose Column lies in [Lo, Hi), or every row when Column is "".
type KeyScope struct {
	Column string
	Lo, Hi any // int64 or time.Time, as Partition.Lo and Hi
}

// Whole tells whether the scope is the whole source.
func (s KeyScope) Whole() bool { return s.Column == "" }

// KeyScanner is a consumer that can read the keys alone.
type KeyScanner interface {
	// KeyScope is p's scope: p's own range when partitions cut the source by ranges of a column that a row
	// keeps (partition.column), so that each partition deletes only keys gone from its range; the whole source
	// for a window of an incremental column, since a hard-deleted row leaves no trace in a range of updated_at.
	KeyScope(p Partition) KeyScope
	// ScanKeys streams the named columns, and no other, of every row in scope (KeyScope(p)). The columns have
	// the types Schema gives them. out owns nothing it is given, as with Read.
	ScanKeys(ctx context.Context, p Partition, scope KeyScope, columns []string, out func(arrow.RecordBatch) error) error
}

// KeyScanLoader is a loader that may ask for a key scan.
type KeyScanLoader interface {
	// KeyScanColumns names the key columns the loader needs from the source's key scan, as the consumer's
	// schema names them; nil when it does not detect deletes by key scan.
	KeyScanColumns() []string
}

// KeyScanWriter is the partition writer of a KeyScanLoader that asked for a key scan.
type KeyScanWriter interface {
	// StartKeyScan is called before the consumer's scan starts: the writer pins what its table holds now, and
	// will read and delete only the keys of its rows within scope.
	StartKeyScan(ctx context.Context, scope KeyScope) error
	// WriteKeys receives a batch of the key columns; it retains what it keeps.
	WriteKeys(ctx context.Context, keys arrow.RecordBatch) error
}
