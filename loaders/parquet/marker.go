package parquet

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jetflow-dev/jetflow/storage"
)

// Marker is the commit record of one partition, at _jetflow/commits/<partition-id>.json under the rendered
// path. It is written last, so its presence means the files it lists are all in place.
type Marker struct {
	Pipeline    string       `json:"pipeline"`
	RunInstance string       `json:"run_instance"`
	PartitionID string       `json:"partition_id"`
	Key         string       `json:"key"`
	Lane        string       `json:"lane,omitempty"`       // streams: the partition's lane
	Checkpoint  string       `json:"checkpoint,omitempty"` // streams: where the lane resumes after it
	Rows        int64        `json:"rows"`
	Bytes       int64        `json:"bytes"`
	Files       []MarkerFile `json:"files"`
}

// MarkerFile is one published file, its path relative to the rendered path.
type MarkerFile struct {
	Path  string `json:"path"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// intent lists the files a commit is about to publish, so that a commit killed half-way is cleaned up by the next
// commit of the same partition id.
type intent struct {
	PartitionID string   `json:"partition_id"`
	Files       []string `json:"files"`
}

// ReadMarker returns the commit marker of partitionID in store (a store at the rendered path, as
// Loader.Destination returns). A partition never committed gives an error wrapping storage.ErrNotFound.
func ReadMarker(ctx context.Context, store *storage.Store, partitionID string) (Marker, error) {
	if err := checkPartitionID(partitionID); err != nil {
		return Marker{}, err
	}
	return readJSON[Marker](ctx, store, markerKey(partitionID))
}

// ListMarkers returns the commit markers in store, ordered by partition id: what the destination holds.
func ListMarkers(ctx context.Context, store *storage.Store) ([]Marker, error) {
	objs, err := store.List(ctx, "_jetflow/commits/")
	if err != nil {
		return nil, err
	}
	var out []Marker
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		m, err := readJSON[Marker](ctx, store, o.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func readJSON[T any](ctx context.Context, store *storage.Store, key string) (T, error) {
	var v T
	b, err := store.ReadAll(ctx, key)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("read %s%s: corrupt record: %w", store.URL(), key, err)
	}
	return v, nil
}

func writeJSON(ctx context.Context, store *storage.Store, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return store.WriteAll(ctx, key, append(b, '\n'))
}
