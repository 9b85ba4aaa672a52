package iceberg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/iceberg-go/catalog"

	"github.com/jetflow-dev/jetflow/stage"
)

var _ stage.CheckpointRecoverer = (*Loader)(nil)

// Checkpoints implements stage.CheckpointRecoverer from the summaries of the table's snapshots: the lane and
// checkpoint of every stream partition pipeline committed (PropCheckpoint). Expired snapshots take their summaries
// with them; a lane whose every commit was expired is not recovered and starts as new, so expire snapshots no
// sooner than the state store could be lost and rebuilt (the README says so).
func (l *Loader) Checkpoints(ctx context.Context, pipeline string, _ stage.RunInstance) (map[string][]string, error) {
	cat, err := l.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	tbl, err := cat.LoadTable(ctx, l.ident)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("iceberg loader: load table %s: %w", l.cfg.Table, err)
	}
	out := map[string][]string{}
	for _, snap := range tbl.Metadata().Snapshots() {
		if snap.Summary == nil {
			continue
		}
		props := snap.Summary.Properties
		raw := props[PropCheckpoint]
		if raw == "" || !slices.Contains(strings.Split(props[PropPipeline], ","), pipeline) {
			continue
		}
		var cps []streamCheckpoint
		if err := json.Unmarshal([]byte(raw), &cps); err != nil {
			return nil, fmt.Errorf("iceberg loader: table %s, snapshot %d: %s is not a list of lanes and checkpoints: %w", l.cfg.Table, snap.SnapshotID, PropCheckpoint, err)
		}
		for _, c := range cps {
			if c.Lane != "" {
				out[c.Lane] = append(out[c.Lane], c.Checkpoint)
			}
		}
	}
	return out, nil
}
