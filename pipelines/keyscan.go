package pipelines

import "github.com/jetflow-dev/jetflow/stage"

// checkKeyScans refuses a loader's deletes: {detect: key_scan} when the consumer cannot read the keys alone
// (stage.KeyScanner), at the loader's deletes.detect.
func (p *Pipeline) checkKeyScans(sink *errorSink, b *Built) {
	if _, ok := b.Source.(stage.KeyScanner); ok {
		return
	}
	for i, l := range b.Loaders {
		if ks, ok := l.(stage.KeyScanLoader); ok && len(ks.KeyScanColumns()) > 0 {
			p.stageError(sink, p.Loaders[i], "", stage.FieldErrorf("deletes.detect",
				"key_scan needs a consumer that can read the source's keys alone, and %s (%s) cannot: use a postgres consumer, or delete_when with soft deletes",
				p.Consumer.Path, p.Consumer.Type))
		}
	}
}
