package iceberg

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// Compacted files hold the rows of many jetflow partitions, so their names cannot carry one partition's tag.
// Instead the table property `jetflow.compacted.<file name>` lists, in file order, which partition's rows each
// run of rows is: "tag:rows,tag:rows,...". A table property, unlike a snapshot summary, survives snapshot
// expiry and is kept by every engine. A commit that replaces a partition finds the compacted files that hold
// its rows there, rewrites each without those rows, and swaps file and property in the same snapshot, so the
// partition's rows stay exactly once whether they were compacted or not.

// PropCompactedPrefix starts the table property naming the partitions of one compacted data file.
const PropCompactedPrefix = "jetflow.compacted."

// compactedID is the "partition id" whose tag compacted files carry in their names: no jetflow partition has it
// (ids are hex digests), so a compacted file is never taken for one partition's own file.
const compactedID = "\x00jetflow compacted"

var uuidInName = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// segment is a run of consecutive rows of a compacted file that came from one jetflow partition (by its tag;
// "" for rows of files whose names carry no write UUID).
type segment struct {
	tag  string
	rows int64
}

// tagHex is the tag of partition id as segments store it: 16 hex digits.
func tagHex(partitionID string) string { return strings.ReplaceAll(FileTag(partitionID), "-", "") }

// nameTag is the tag in the name of the data file at path: the first 16 hex digits of its write UUID.
func nameTag(path string) string {
	m := uuidInName.FindString(baseName(path))
	if m == "" {
		return ""
	}
	return m[:8] + m[9:13] + m[14:18]
}

func baseName(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }

// compactedKey is the table property of the compacted data file at path.
func compactedKey(path string) string {
	return PropCompactedPrefix + strings.TrimSuffix(baseName(path), ".parquet")
}

func appendSegment(segs []segment, tag string, rows int64) []segment {
	if rows <= 0 {
		return segs
	}
	if n := len(segs); n > 0 && segs[n-1].tag == tag {
		segs[n-1].rows += rows
		return segs
	}
	return append(segs, segment{tag, rows})
}

func encodeSegments(segs []segment) string {
	var b strings.Builder
	for i, s := range segs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.tag)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(s.rows, 10))
	}
	return b.String()
}

func decodeSegments(v string) ([]segment, error) {
	var segs []segment
	for part := range strings.SplitSeq(v, ",") {
		tag, n, ok := strings.Cut(part, ":")
		rows, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || rows < 0 {
			return nil, fmt.Errorf("bad entry %q (want tag:rows)", part)
		}
		segs = append(segs, segment{tag, rows})
	}
	return segs, nil
}

// segmentsOf returns the partition runs of data file df: from its property when it is a compacted file, else
// one run of the tag in its name.
func segmentsOf(props iceberg.Properties, df iceberg.DataFile) ([]segment, error) {
	if v, ok := props[compactedKey(df.FilePath())]; ok {
		segs, err := decodeSegments(v)
		if err != nil {
			return nil, fmt.Errorf("table property %s: %w", compactedKey(df.FilePath()), err)
		}
		var n int64
		for _, s := range segs {
			n += s.rows
		}
		if n != df.Count() {
			return nil, fmt.Errorf("table property %s counts %d rows, the file has %d: it no longer describes the file", compactedKey(df.FilePath()), n, df.Count())
		}
		return segs, nil
	}
	return []segment{{nameTag(df.FilePath()), df.Count()}}, nil
}

func holdsAny(segs []segment, tags map[string]bool) bool {
	for _, s := range segs {
		if tags[s.tag] {
			return true
		}
	}
	return false
}

// rewriteRows reads the data files of tasks in order and writes the rows drop does not mark into one new data
// file named with a compacted file's tag; it returns nil when no row is left. drop, when not nil, gives per
// segment of the concatenated input whether its rows go.
func rewriteRows(ctx context.Context, alloc memory.Allocator, tbl *table.Table, tasks []table.FileScanTask, segs []segment, drop map[string]bool) (iceberg.DataFile, error) {
	var want int64
	for _, s := range segs {
		if !drop[s.tag] {
			want += s.rows
		}
	}
	if want == 0 {
		return nil, nil
	}
	ctx = compute.WithAllocator(ctx, alloc)
	schema, recs, err := tbl.Scan().ReadTasks(ctx, tasks)
	if err != nil {
		return nil, fmt.Errorf("read data files: %w", err)
	}
	if drop != nil {
		recs = dropSegments(recs, segs, drop)
	}
	id, err := writeUUID(compactedID)
	if err != nil {
		return nil, err
	}
	// One output file (the target is out of reach) so that its rows are exactly the kept input rows in order;
	// the clustered writer keeps that order.
	var out []iceberg.DataFile
	for df, err := range table.WriteRecords(ctx, tbl, schema, recs, table.WithClusteredWrite(),
		table.WithTargetFileSize(math.MaxInt64/2), table.WithWriteUUID(id)) {
		if err != nil {
			removeFiles(ctx, tbl, out)
			return nil, fmt.Errorf("write data file: %w", err)
		}
		out = append(out, df)
	}
	if len(out) != 1 || out[0].Count() != want {
		var got int64
		for _, df := range out {
			got += df.Count()
		}
		removeFiles(ctx, tbl, out)
		return nil, fmt.Errorf("wrote %d rows in %d files, want %d rows in one file", got, len(out), want)
	}
	return out[0], nil
}

// dropSegments passes on the rows of recs outside the segments whose tags drop marks, as zero-copy slices.
func dropSegments(recs iter.Seq2[arrow.RecordBatch, error], segs []segment, drop map[string]bool) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		seg, left := 0, int64(0) // the current segment and how many of its rows are still to come
		if len(segs) > 0 {
			left = segs[0].rows
		}
		for b, err := range recs {
			if err != nil {
				yield(nil, err)
				return
			}
			n, at := b.NumRows(), int64(0)
			for at < n {
				for left == 0 && seg+1 < len(segs) {
					seg++
					left = segs[seg].rows
				}
				if left == 0 {
					b.Release()
					yield(nil, errors.New("the data file has more rows than its table property lists"))
					return
				}
				take := min(left, n-at)
				if !drop[segs[seg].tag] && !yield(b.NewSlice(at, at+take), nil) {
					b.Release()
					return
				}
				at += take
				left -= take
			}
			b.Release()
		}
	}
}

func removeFiles(ctx context.Context, tbl *table.Table, files []iceberg.DataFile) {
	if len(files) == 0 {
		return
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return
	}
	for _, f := range files {
		_ = fs.Remove(f.FilePath()) // an orphan left behind is listed by `show --orphans`
	}
}

// cutPartitions rewrites the compacted data file df (whose runs are segs) without the rows of the partitions
// tags marks. It returns the new file (nil when no row is left) and its runs.
func (l *Loader) cutPartitions(ctx context.Context, tbl *table.Table, df iceberg.DataFile, segs []segment, tags map[string]bool) (iceberg.DataFile, []segment, error) {
	task := table.FileScanTask{File: df, Start: 0, Length: df.FileSizeBytes()}
	nf, err := rewriteRows(ctx, l.alloc, tbl, []table.FileScanTask{task}, segs, tags)
	if err != nil {
		return nil, nil, fmt.Errorf("rewrite the compacted file %s without the partition's rows: %w", df.FilePath(), err)
	}
	var kept []segment
	for _, s := range segs {
		if !tags[s.tag] {
			kept = appendSegment(kept, s.tag, s.rows)
		}
	}
	return nf, kept, nil
}

// compactedFiles returns the live data files of tbl's head that are compacted files holding rows of the partitions
// tags marks, with their runs.
func (l *Loader) compactedFiles(ctx context.Context, tbl *table.Table, props iceberg.Properties, tags map[string]bool) ([]iceberg.DataFile, [][]segment, error) {
	var files []iceberg.DataFile
	var runs [][]segment
	var bad error
	_, err := l.liveFilesCached(ctx, tbl, func(df iceberg.DataFile) bool {
		if _, ok := props[compactedKey(df.FilePath())]; !ok || bad != nil {
			return false
		}
		segs, err := segmentsOf(props, df)
		if err != nil {
			bad = err
			return false
		}
		if holdsAny(segs, tags) {
			files = append(files, df)
			runs = append(runs, segs)
		}
		return false
	})
	if err == nil {
		err = bad
	}
	return files, runs, err
}

// hasCompacted tells whether the table has compacted files (by their properties).
func hasCompacted(props iceberg.Properties) bool {
	for k := range props {
		if strings.HasPrefix(k, PropCompactedPrefix) {
			return true
		}
	}
	return false
}

// compactedChanges are what a commit does to compacted files besides the partitions' own files.
type compactedChanges struct {
	removed []iceberg.DataFile // compacted files holding rows of the partitions, replaced by added
	added   []iceberg.DataFile // the same files without those rows
	set     iceberg.Properties // the properties of added
	drop    []string           // the properties of removed files, and of compacted files in old
}

// replaceCompacted finds the compacted files that hold rows of the partitions ids and rewrites each without
// them; old are the files the commit removes anyway (their properties go too). On error it removes what it wrote.
func (l *Loader) replaceCompacted(ctx context.Context, tbl *table.Table, ids []string, old []iceberg.DataFile) (compactedChanges, error) {
	var ch compactedChanges
	props := tbl.Properties()
	if !hasCompacted(props) {
		return ch, nil
	}
	gone := make(map[string]bool, len(old))
	for _, f := range old {
		gone[f.FilePath()] = true
		if _, ok := props[compactedKey(f.FilePath())]; ok {
			ch.drop = append(ch.drop, compactedKey(f.FilePath()))
		}
	}
	snap := tbl.CurrentSnapshot()
	if snap == nil || !mayHoldPartitions(tbl.Metadata(), ids) {
		return ch, nil
	}
	tags := make(map[string]bool, len(ids))
	for _, id := range ids {
		tags[tagHex(id)] = true
	}
	files, runs, err := l.compactedFiles(ctx, tbl, props, tags)
	if err != nil {
		return ch, fmt.Errorf("list the compacted files: %w", err)
	}
	ch.set = iceberg.Properties{}
	for i, f := range files {
		if gone[f.FilePath()] {
			continue
		}
		nf, kept, err := l.cutPartitions(ctx, tbl, f, runs[i], tags)
		if err != nil {
			removeFiles(ctx, tbl, ch.added)
			return compactedChanges{}, err
		}
		ch.removed = append(ch.removed, f)
		ch.drop = append(ch.drop, compactedKey(f.FilePath()))
		if nf != nil {
			ch.added = append(ch.added, nf)
			ch.set[compactedKey(nf.FilePath())] = encodeSegments(kept)
		}
	}
	return ch, nil
}

// stage adds the property changes to txn.
func (ch compactedChanges) stage(txn *table.Transaction) error {
	if len(ch.set) > 0 {
		if err := txn.SetProperties(ch.set); err != nil {
			return err
		}
	}
	if len(ch.drop) > 0 {
		return txn.RemoveProperties(ch.drop)
	}
	return nil
}
