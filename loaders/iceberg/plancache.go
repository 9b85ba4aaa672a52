package iceberg

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
)

// planCache keeps the live files of every manifest a merge has planned with, lean. Manifest files never change
// once written, so the next merge of a stream reads only the manifests the commits since added, where iceberg-go's
// PlanFiles would read and decode every manifest of the table with all its column statistics at each commit
// (most of a stream's memory, and a cost that grows with the table until a compaction).
//
// An entry keeps its file without column statistics except the bounds of the columns a merge prunes by (the key
// and the version), so the cache is a small, fixed size per live file of the table; manifests the head no
// longer lists are dropped at each plan.
type planCache struct {
	mu        sync.Mutex
	ids       []int // the field ids whose bounds the entries keep
	manifests map[string][]plannedEntry
	reads     int // manifests read, for tests
}

// plannedEntry is a live file of a manifest: its data sequence number and the file; for a position delete file,
// ref is the one data file it names, if it names one.
type plannedEntry struct {
	seq  int64
	file iceberg.DataFile
	ref  string
}

// The field ids of a position delete file's columns (the Iceberg spec's).
const (
	filePathFieldID = 2147483546
	posFieldID      = 2147483545
)

// plannedFile is what a merge plans with of a file of the table: a copy of its manifest entry's fields with the
// bounds of the merge's columns only. The decoded entry would keep every column's statistics and the decoder's
// buffers its strings point into.
type plannedFile struct {
	content      iceberg.ManifestEntryContent
	path         string
	format       iceberg.FileFormat
	partition    map[int]any
	count, size  int64
	specID       int32
	lower, upper map[int][]byte
	ref          *string
	key          []byte
	splits       []int64
	seq          int64 // the manifest entry's data sequence number
}

func (f *plannedFile) ContentType() iceberg.ManifestEntryContent { return f.content }
func (f *plannedFile) FilePath() string                          { return f.path }
func (f *plannedFile) FileFormat() iceberg.FileFormat            { return f.format }
func (f *plannedFile) Partition() map[int]any                    { return f.partition }
func (f *plannedFile) Count() int64                              { return f.count }
func (f *plannedFile) FileSizeBytes() int64                      { return f.size }
func (f *plannedFile) ColumnSizes() map[int]int64                { return nil }
func (f *plannedFile) ValueCounts() map[int]int64                { return nil }
func (f *plannedFile) NullValueCounts() map[int]int64            { return nil }
func (f *plannedFile) NaNValueCounts() map[int]int64             { return nil }
func (f *plannedFile) DistinctValueCounts() map[int]int64        { return nil }
func (f *plannedFile) LowerBoundValues() map[int][]byte          { return f.lower }
func (f *plannedFile) UpperBoundValues() map[int][]byte          { return f.upper }
func (f *plannedFile) KeyMetadata() []byte                       { return f.key }
func (f *plannedFile) SplitOffsets() []int64                     { return f.splits }
func (f *plannedFile) EqualityFieldIDs() []int                   { return nil }
func (f *plannedFile) SortOrderID() *int                         { return nil }
func (f *plannedFile) SpecID() int32                             { return f.specID }
func (f *plannedFile) FirstRowID() *int64                        { return nil }
func (f *plannedFile) ReferencedDataFile() *string               { return f.ref }
func (f *plannedFile) ContentOffset() *int64                     { return nil }
func (f *plannedFile) ContentSizeInBytes() *int64                { return nil }

// newPlannedFile copies df, keeping the bounds of the columns ids.
func newPlannedFile(df iceberg.DataFile, ids []int) *plannedFile {
	f := &plannedFile{
		content: df.ContentType(), path: strings.Clone(df.FilePath()), format: df.FileFormat(),
		count: df.Count(), size: df.FileSizeBytes(), specID: df.SpecID(),
		key: bytes.Clone(df.KeyMetadata()), splits: slices.Clone(df.SplitOffsets()),
	}
	if p := df.Partition(); p != nil {
		f.partition = make(map[int]any, len(p))
		for id, v := range p {
			switch v := v.(type) {
			case string:
				f.partition[id] = strings.Clone(v)
			case []byte:
				f.partition[id] = bytes.Clone(v)
			default:
				f.partition[id] = v
			}
		}
	}
	if ref := df.ReferencedDataFile(); ref != nil {
		r := strings.Clone(*ref)
		f.ref = &r
	}
	lower, upper := df.LowerBoundValues(), df.UpperBoundValues()
	for _, id := range ids {
		if b, ok := lower[id]; ok {
			if f.lower == nil {
				f.lower = map[int][]byte{}
			}
			f.lower[id] = bytes.Clone(b)
		}
		if b, ok := upper[id]; ok {
			if f.upper == nil {
				f.upper = map[int][]byte{}
			}
			f.upper[id] = bytes.Clone(b)
		}
	}
	return f
}

// planTasks returns the live data files of tbl's head, each with the position delete files that apply to it (those
// of its partition, or naming it, with a data sequence number not below its own), as PlanFiles without a filter
// would. The files keep the bounds of the columns ids only. A head with equality deletes or deletion vectors, which
// jetflow never writes, is planned by PlanFiles, so that the callers see and refuse them.
func (l *Loader) planTasks(ctx context.Context, tbl *table.Table, ids []int) ([]table.FileScanTask, error) {
	snap := tbl.CurrentSnapshot()
	if snap == nil {
		return nil, nil
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	mfs, err := snap.Manifests(fs)
	if err != nil {
		return nil, fmt.Errorf("read the manifest list: %w", err)
	}
	c := &l.plans
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.manifests == nil || !slices.Equal(c.ids, ids) {
		c.ids, c.manifests = slices.Clone(ids), map[string][]plannedEntry{}
	}
	var data, dels []plannedEntry
	listed := make(map[string]bool, len(mfs))
	for _, mf := range mfs {
		listed[mf.FilePath()] = true
		entries, ok := c.manifests[mf.FilePath()]
		if !ok {
			if entries, err = readPlanned(fs, mf, ids); err != nil {
				return nil, fmt.Errorf("read manifest %s: %w", mf.FilePath(), err)
			}
			if entries == nil {
				return tbl.Scan().PlanFiles(ctx) // equality deletes or deletion vectors
			}
			c.manifests[mf.FilePath()] = entries
			c.reads++
		}
		if mf.ManifestContent() == iceberg.ManifestContentData {
			data = append(data, entries...)
		} else {
			dels = append(dels, entries...)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	for p := range c.manifests {
		if !listed[p] {
			delete(c.manifests, p)
		}
	}
	paths := make(map[string]bool, len(data))
	for _, e := range data {
		paths[e.file.FilePath()] = true
	}
	byPath := map[string][]plannedEntry{}
	byPartition := map[string][]plannedEntry{}
	for _, d := range dels {
		// A ref that names no live data file applies to none, unless it is a truncated bound: then the file is
		// one of its partition's.
		if d.ref != "" && paths[d.ref] {
			byPath[d.ref] = append(byPath[d.ref], d)
		} else {
			k := partitionKey(d.file)
			byPartition[k] = append(byPartition[k], d)
		}
	}
	tasks := make([]table.FileScanTask, 0, len(data))
	for _, e := range data {
		t := table.FileScanTask{File: e.file, Start: 0, Length: e.file.FileSizeBytes()}
		for _, list := range [][]plannedEntry{byPartition[partitionKey(e.file)], byPath[e.file.FilePath()]} {
			for _, d := range list {
				if d.seq >= e.seq {
					t.DeleteFiles = append(t.DeleteFiles, d.file)
				}
			}
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// readPlanned reads the live entries of manifest mf, keeping of their statistics the bounds of the columns ids of
// data files. It returns nil, nil for a manifest of equality deletes or deletion vectors.
func readPlanned(fs icebergio.IO, mf iceberg.ManifestFile, ids []int) ([]plannedEntry, error) {
	out := []plannedEntry{}
	for e, err := range iceberg.EntriesWithProjection(fs, mf, true, iceberg.ManifestEntryProjection{IncludePruningStats: true}) {
		if err != nil {
			return nil, err
		}
		df, ref := e.DataFile(), ""
		switch {
		case df.ContentType() == iceberg.EntryContentEqDeletes:
			return nil, nil
		case df.ContentType() == iceberg.EntryContentPosDeletes && df.FileFormat() == iceberg.PuffinFile:
			return nil, nil // a deletion vector
		case df.ContentType() == iceberg.EntryContentData:
			pf := newPlannedFile(df, ids)
			pf.seq = e.SequenceNum()
			df = pf
		default:
			ref = strings.Clone(referencedPath(df))
			pf := newPlannedFile(df, nil)
			pf.seq = e.SequenceNum()
			if ref != "" {
				pf.ref = &ref // named or bounded alike, for those that ask the file which data file it names
			}
			df = pf
		}
		out = append(out, plannedEntry{seq: e.SequenceNum(), file: df, ref: ref})
	}
	return out, nil
}

// referencedPath is the data file a position delete file applies to alone: the one it names, or the one its
// file_path column's bounds hold (format version 2 manifests have no field that names it).
func referencedPath(df iceberg.DataFile) string {
	if ref := df.ReferencedDataFile(); ref != nil && *ref != "" {
		return *ref
	}
	lo, hi := df.LowerBoundValues()[filePathFieldID], df.UpperBoundValues()[filePathFieldID]
	if len(lo) == 0 || !bytes.Equal(lo, hi) {
		return ""
	}
	return string(lo) // a string bound is its UTF-8 bytes
}
