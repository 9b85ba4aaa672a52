// Package rowgroup writes the Parquet files of jetflow's Parquet and Iceberg loaders (Writer: the columns of a
// row group encoded in parallel) and decides when a buffered row group is cut and when a file is full. A row group
// stays in memory until it is cut, so these rules are also what bounds a load's memory.
package rowgroup

import (
	"cmp"
	"slices"
)

// AfterWrite is called after each buffered write to fw: it cuts the row group once it holds rowGroupSize
// encoded bytes, and reports whether the file (flushed bytes written so far, plus its buffered row group) has
// reached targetSize and should be closed.
func AfterWrite(fw Buffered, flushed, rowGroupSize, targetSize int64) (full bool, err error) {
	rg := fw.RowGroupTotalBytesWritten()
	if rg >= rowGroupSize {
		if err := fw.NewBufferedRowGroupChecked(); err != nil {
			return false, err
		}
		rg = 0
	}
	return flushed+rg >= targetSize, nil
}

// Hold keeps the row groups of one writer's open files within Budget bytes (buffer_size) as a batch is spread
// over them: see HoldWithin. A check measures every open file, so checking after each file a batch reaches would
// cost files² a batch, and checking once a batch would let a wide batch's parts pile up past the budget: the
// loaders call Reached after each file a batch reaches, which checks every holdEvery of them, and Batch after the
// batch.
//
// Row groups cut early are small, and each adds its metadata to its file's footer, which stays in memory until
// the file is closed: after each batch, Batch also rolls (Roll: close; the next rows of its partition begin a new
// file) the open files with the most row groups while the open files' footers describe more column chunks
// together than FooterLimit, which the budget sets. Memory then stays flat however many rows a wide fan-out
// writes, at the price of more files.
type Hold[K comparable, F any] struct {
	Open   map[K]F
	Writer func(F) Buffered
	Roll   func(F) error // closes a file and removes it from Open
	Budget int64
	since  int // files reached since the last check
	chunks int // the bound on footer column chunks, when not 0 (tests set it)
}

// footerChunkBytes is about what the metadata of one column chunk (thrift structures, statistics, encodings)
// takes on the Go heap while its file is open: about a kilobyte for a few columns of numbers and short strings.
const footerChunkBytes = 1 << 10

// minFooterChunks is the least FooterLimit, so that the files of a small budget still hold a few row groups each.
const minFooterChunks = 1 << 10

// FooterLimit bounds the column chunks the footers of h's open files describe together: as many as take about
// half the budget (8Ki at 16 MiB), so that the budget bounds the footers of a wide fan-out as it bounds its row
// groups, and one 512 MiB file of 16 MiB row groups and 250 columns stays within it: only files of row groups cut
// early by the budget are rolled.
func (h *Hold[K, F]) FooterLimit() int {
	if h.chunks > 0 {
		return h.chunks
	}
	return int(max(h.Budget/(2*footerChunkBytes), minFooterChunks))
}

// holdEvery is how many files a batch may reach between two checks of the budget.
const holdEvery = 16

// encodedFiles is about how many of a Hold's files may have a row group encoded as it comes, each with its
// column writers (see Writer.StageUpTo), however many are open: StageLimit.
const encodedFiles = 16

// StageLimit is what the row group of each of h's files may hold staged as Arrow (Writer.StageUpTo) before it is
// encoded as batches come: the budget's share of encodedFiles files, at most the row group size. Row groups are
// kept within the budget together, so only about encodedFiles of them can be larger; the rest (with hundreds of
// files open, all but a few) hold their rows and no column writers.
func (h *Hold[K, F]) StageLimit(rowGroupSize int64) int64 {
	return max(min(h.Budget/encodedFiles, rowGroupSize), 1)
}

// Reached is called after a part of a batch went to a file; on an error it returns the file that failed.
func (h *Hold[K, F]) Reached() (F, error) {
	if h.since++; h.since < holdEvery {
		var none F
		return none, nil
	}
	return h.Batch()
}

// Batch is called after a whole batch was written; on an error it returns the file that failed.
func (h *Hold[K, F]) Batch() (F, error) {
	h.since = 0
	if f, err := HoldWithin(h.Open, h.Writer, h.Budget); err != nil {
		return f, err
	}
	return h.rollFooters()
}

// rollFooters rolls the open files with the most row groups while the footers of the open files describe more
// than the bound of column chunks together. A single open file is left to the target file size.
func (h *Hold[K, F]) rollFooters() (F, error) {
	var none F
	limit := h.FooterLimit()
	if len(h.Open) < 2 || h.Roll == nil {
		return none, nil
	}
	type held struct {
		f F
		n int
	}
	all := make([]held, 0, len(h.Open))
	total := 0
	for _, f := range h.Open {
		n := h.Writer(f).FooterChunks()
		all = append(all, held{f, n})
		total += n
	}
	if total <= limit {
		return none, nil
	}
	slices.SortFunc(all, func(a, b held) int { return cmp.Compare(b.n, a.n) })
	for _, r := range all {
		if total <= limit {
			break
		}
		if err := h.Roll(r.f); err != nil {
			return r.f, err
		}
		total -= r.n
	}
	return none, nil
}

// HoldWithin writes out buffered row groups early, the largest first, while the open files' row groups together
// hold more than budget bytes in memory (Buffered.BufferedBytes): with many files open (Hive directories, Iceberg
// partitions), row groups get smaller instead of memory bigger. The loaders call it after each batch: it measures
// every open file once. A single open file is left to AfterWrite's row group size. On an error it returns the
// file that failed.
func HoldWithin[K comparable, F any](open map[K]F, writer func(F) Buffered, budget int64) (F, error) {
	var none F
	if len(open) < 2 {
		return none, nil
	}
	type held struct {
		f F
		n int64
	}
	all := make([]held, 0, len(open))
	var total int64
	for _, f := range open {
		n := writer(f).BufferedBytes()
		all = append(all, held{f, n})
		total += n
	}
	if total <= budget {
		return none, nil
	}
	slices.SortFunc(all, func(a, b held) int { return cmp.Compare(b.n, a.n) })
	for _, h := range all {
		if total <= budget || h.n == 0 {
			break
		}
		if err := writer(h.f).NewBufferedRowGroupChecked(); err != nil {
			return h.f, err
		}
		total += writer(h.f).BufferedBytes() - h.n // a fresh row group holds next to nothing
	}
	return none, nil
}
