package postgres

import "github.com/jetflow-dev/jetflow/stage"

// OpTruncate is the _op of the row that stands for a TRUNCATE of the table (on_truncate: clear).
const OpTruncate = "t"

var _ stage.TruncateSource = (*CDC)(nil)

// TruncateMarker implements stage.TruncateSource: with on_truncate: clear, a TRUNCATE is a row whose _op is t and
// whose _lsn is the truncate's commit position, at its place among the transaction's changes; the loader clears
// what is older and drops the partition's rows before it.
func (s *CDC) TruncateMarker() (stage.TruncateMarker, bool) {
	return stage.TruncateMarker{Column: ColOp, Value: OpTruncate, Field: "cdc.on_truncate"}, s.cfg.OnTruncate == "clear"
}

// truncate appends the marker row of a TRUNCATE: null in every column of the table, the transaction's _lsn and
// _commit_time. It counts as a change for the roll limits.
func (b *changeBatcher) truncate() error {
	for _, d := range b.decs {
		d.b.AppendNull()
	}
	return b.endRow(OpTruncate)
}
