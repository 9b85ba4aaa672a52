package iceberg

import (
	"context"
	"errors"
	"fmt"
	stdfs "io/fs"
	"strings"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/jetflow-dev/jetflow/stage"
)

var _ stage.Sweeper = (*Loader)(nil)

// intentSep separates the table location from the write UUID in an attempt's intent.
const intentSep = "/data/**/*-"

// intentPattern is the intent an attempt records: every data file it writes under the table's data/ carries
// its write UUID in its name (both writers name files as iceberg-go does).
func intentPattern(location string, id uuid.UUID) string {
	return strings.TrimSuffix(location, "/") + intentSep + id.String() + "-*.parquet"
}

// Sweep implements stage.Sweeper: it removes the data files of the attempts paths name (see intentPattern) that
// no retained snapshot of the table references. A file a snapshot references is committed output, or was until a
// later commit replaced it, and stays for time travel until snapshot expiry removes it.
func (l *Loader) Sweep(ctx context.Context, paths []string, dryRun bool) ([]string, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	tbl, err := l.LoadTable(ctx)
	if err != nil {
		return nil, fmt.Errorf("iceberg loader: %w", err)
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, fmt.Errorf("iceberg loader: table %s: open its file system: %w", l.cfg.Table, err)
	}
	listable, ok := fsys.(icebergio.ListableIO)
	if !ok {
		return nil, fmt.Errorf("iceberg loader: table %s: its file system cannot list files, so leftovers cannot be found", l.cfg.Table)
	}
	referenced, err := referencedNames(ctx, tbl, fsys)
	if err != nil {
		return nil, fmt.Errorf("iceberg loader: table %s: read the snapshots' data files: %w", l.cfg.Table, err)
	}
	var out []string
	for _, p := range paths {
		location, rest, ok := strings.Cut(p, intentSep)
		id, _, _ := strings.Cut(rest, "-*")
		if !ok || uuid.Validate(id) != nil {
			return out, fmt.Errorf("iceberg loader: intent %q names no data files of this loader", p)
		}
		tag := "-" + id + "-"
		var found []string
		err := listable.WalkDir(location+"/data", func(path string, d stdfs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, stdfs.ErrNotExist) {
					return nil
				}
				return err
			}
			name := path[strings.LastIndexByte(path, '/')+1:]
			if !d.IsDir() && strings.Contains(name, tag) && !referenced[name] {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("iceberg loader: table %s: list %s/data: %w", l.cfg.Table, location, l.s3Context(location, err))
		}
		for _, f := range found {
			if !dryRun {
				if err := fsys.Remove(f); err != nil && !errors.Is(err, stdfs.ErrNotExist) {
					return out, fmt.Errorf("iceberg loader: table %s: %w", l.cfg.Table, l.s3Context(location, err))
				}
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// referencedNames returns the base names of the data and delete files every retained snapshot references.
// Names are unique (they carry a write UUID), and comparing names spares comparing URIs written in two forms.
func referencedNames(ctx context.Context, tbl *table.Table, fsys icebergio.IO) (map[string]bool, error) {
	out := map[string]bool{}
	seen := map[string]bool{}
	for _, snap := range tbl.Metadata().Snapshots() {
		mfs, err := snap.Manifests(fsys)
		if err != nil {
			return nil, err
		}
		for _, mf := range mfs {
			if seen[mf.FilePath()] {
				continue
			}
			seen[mf.FilePath()] = true
			for e, err := range mf.Entries(fsys, false) {
				if err != nil {
					return nil, err
				}
				p := e.DataFile().FilePath()
				out[p[strings.LastIndexByte(p, '/')+1:]] = true
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
