package stage

// Truncates reach a loader as rows. A change-capture consumer asked to pass a source's TRUNCATE on (the postgres
// consumer's cdc.on_truncate: clear) emits, in the partition and at the truncate's place among the changes, one
// marker row: Column holds Value, the loader's version column holds the truncate's version (the commit's log
// position), every other column may be null. A loader that clears (TruncateLoader) reads a partition's rows in
// order: the rows before its last marker are dropped, every stored row whose version is older than the marker's
// leaves the table in the partition's own commit, and the rows after the marker merge as usual. Transformers
// pass the marker rows through like any other row; one that drops them loses the truncate.

// TruncateMarker says which rows of a consumer's output mark a truncate of the source.
type TruncateMarker struct {
	Column, Value string
	// Field is the consumer's config key that asked for the markers (cdc.on_truncate), where validate points
	// when a loader cannot clear.
	Field string
}

// TruncateSource is a consumer that may emit truncate markers.
type TruncateSource interface {
	// TruncateMarker returns the marker of its truncate rows; ok is false when, as configured, it emits none.
	TruncateMarker() (m TruncateMarker, ok bool)
}

// TruncateLoader is a loader that can clear its table at a truncate marker.
type TruncateLoader interface {
	// ClearOnTruncate is called once, before any partition is written, when the consumer emits markers m. It
	// returns a FieldError naming its own config key when, as configured, the loader cannot clear.
	ClearOnTruncate(m TruncateMarker) error
}
