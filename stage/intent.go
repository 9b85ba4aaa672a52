package stage

import "context"

// IntentRecorder records, before a loader writes a file for a partition, that the attempt is about to: the
// engine keeps it in the state store with the attempt's lease owner, so that what a killed attempt wrote is
// found and removed (through the loader's Sweeper) by the next run.
type IntentRecorder func(ctx context.Context, path string) error

type intentKey struct{}

// WithIntentRecorder returns a context that carries r to the loader's Begin, and through it to everything the
// partition writer does.
func WithIntentRecorder(ctx context.Context, r IntentRecorder) context.Context {
	return context.WithValue(ctx, intentKey{}, r)
}

// RecordIntent records path with the recorder ctx carries; without one (a loader used outside the engine) it
// does nothing. path is what the loader's Sweeper understands: a file's URL, or a prefix or pattern of them.
// A loader must not write the files when it fails.
func RecordIntent(ctx context.Context, path string) error {
	r, _ := ctx.Value(intentKey{}).(IntentRecorder)
	if r == nil {
		return nil
	}
	return r(ctx, path)
}

// Sweeper is implemented by loaders that record intents: it removes what intents of dead attempts name.
type Sweeper interface {
	// Sweep removes the files paths (intents this loader recorded, for attempts whose owner holds no live lease)
	// name, except those committed output holds (a file the table's snapshots reference, or a commit marker
	// lists). It returns the files it removed, or with dryRun those it would remove, removing nothing.
	Sweep(ctx context.Context, paths []string, dryRun bool) (removed []string, err error)
}

// TempSweeper is implemented by loaders that keep attempts' temporary files in a known place of a run
// instance's destination: SweepTemp removes those of partitions no live attempt works on (live tells), which
// covers what attempts killed before they recorded an intent left. It returns the files it removed, or with
// dryRun those it would remove.
type TempSweeper interface {
	SweepTemp(ctx context.Context, run RunInstance, live func(ctx context.Context, partitionID string) (bool, error), dryRun bool) (removed []string, err error)
}
