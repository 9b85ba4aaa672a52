package pipelines

import "github.com/jetflow-dev/jetflow/stage"

// wireTruncates tells every loader which rows mark a truncate when the consumer emits them
// (stage.TruncateSource), and refuses the pipeline when a loader cannot clear: at the consumer's key that asked
// for the markers when the loader's type never clears, at the loader's own key when its settings keep it from it.
func (p *Pipeline) wireTruncates(sink *errorSink, b *Built, src *Stage, loaders []*Stage) {
	ts, ok := b.Source.(stage.TruncateSource)
	if !ok || src == nil {
		return
	}
	m, ok := ts.TruncateMarker()
	if !ok {
		return
	}
	for i, l := range b.Loaders {
		tl, ok := l.(stage.TruncateLoader)
		if !ok {
			p.stageError(sink, src, "", stage.FieldErrorf(m.Field,
				"clear empties the destination's table at a truncate, and %s (%s) cannot: use an iceberg loader with mode: merge, or on_truncate: fail",
				loaders[i].Path, loaders[i].Type))
			continue
		}
		if err := tl.ClearOnTruncate(m); err != nil {
			p.stageError(sink, loaders[i], "", err)
		}
	}
}
