package iceberg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

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
		if !slices.Contains(snapshotPipelines(snap), pipeline) {
			continue
		}
		cps, err := snapshotCheckpoints(snap)
		if err != nil {
			return nil, fmt.Errorf("iceberg loader: table %s: %w", l.cfg.Table, err)
		}
		for _, c := range cps {
			if c.Lane != "" {
				out[c.Lane] = append(out[c.Lane], c.Checkpoint)
			}
		}
	}
	return out, nil
}

// checkpointSnapshots is the newest snapshot of each pipeline's stream lane that carries the lane's checkpoint:
// what Checkpoints needs of the table's history, which snapshot expiry keeps.
func checkpointSnapshots(md table.Metadata) ([]int64, error) {
	newest := map[[2]string]table.Snapshot{} // by pipeline and lane
	for _, snap := range md.Snapshots() {
		cps, err := snapshotCheckpoints(snap)
		if err != nil {
			return nil, err
		}
		for _, c := range cps {
			if c.Lane == "" {
				continue
			}
			for _, p := range snapshotPipelines(snap) {
				k := [2]string{p, c.Lane}
				if old, ok := newest[k]; !ok || snap.SequenceNumber > old.SequenceNumber ||
					(snap.SequenceNumber == old.SequenceNumber && snap.TimestampMs > old.TimestampMs) {
					newest[k] = snap
				}
			}
		}
	}
	ids := make([]int64, 0, len(newest))
	for _, snap := range newest {
		if !slices.Contains(ids, snap.SnapshotID) {
			ids = append(ids, snap.SnapshotID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// snapshotPipelines are the pipelines whose partitions snap commits (PropPipeline).
func snapshotPipelines(snap table.Snapshot) []string {
	if snap.Summary == nil || snap.Summary.Properties[PropPipeline] == "" {
		return nil
	}
	return strings.Split(snap.Summary.Properties[PropPipeline], ",")
}

// snapshotCheckpoints are the stream partitions snap commits with their lanes and checkpoints (PropCheckpoint).
func snapshotCheckpoints(snap table.Snapshot) ([]streamCheckpoint, error) {
	if snap.Summary == nil || snap.Summary.Properties[PropCheckpoint] == "" {
		return nil, nil
	}
	var cps []streamCheckpoint
	if err := json.Unmarshal([]byte(snap.Summary.Properties[PropCheckpoint]), &cps); err != nil {
		return nil, fmt.Errorf("snapshot %d: %s is not a list of lanes and checkpoints: %w", snap.SnapshotID, PropCheckpoint, err)
	}
	return cps, nil
}
