package engine

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/jetflow-dev/jetflow/stage"
)

// scanKeys runs the key scan of every loader that asks for one (stage.KeyScanLoader): the writer pins its table,
// then the consumer streams the key columns of p's scope into it, before the partition's rows are read.
func (e *Engine) scanKeys(ctx context.Context, p stage.Partition, writers []stage.PartitionWriter) error {
	for i, l := range e.job.Loaders {
		ksl, ok := l.Loader.(stage.KeyScanLoader)
		if !ok || len(ksl.KeyScanColumns()) == 0 {
			continue
		}
		ks, ok := e.job.Source.(stage.KeyScanner)
		if !ok {
			return stage.Permanent(fmt.Errorf("loader %s: deletes: {detect: key_scan} needs a consumer that can read the source's keys alone (postgres)", l.Name))
		}
		kw, ok := writers[i].(stage.KeyScanWriter)
		if !ok {
			return stage.Permanent(fmt.Errorf("loader %s: its partition writer cannot take a key scan", l.Name))
		}
		scope := ks.KeyScope(p)
		if err := kw.StartKeyScan(ctx, scope); err != nil {
			return fmt.Errorf("loader %s: partition %s: start the key scan: %w", l.Name, p.Key, err)
		}
		if err := ks.ScanKeys(ctx, p, scope, ksl.KeyScanColumns(), func(b arrow.RecordBatch) error { return kw.WriteKeys(ctx, b) }); err != nil {
			return fmt.Errorf("loader %s: partition %s: key scan: %w", l.Name, p.Key, err)
		}
	}
	return nil
}
