// Package rowgroup writes jetflow's Parquet files (Writer: the columns of a row group encoded on all cores) and
// decides when jetflow's Parquet writers (the Parquet loader's and the Iceberg loader's) cut a
// buffered row group and when a file is full. pqarrow's buffered writer keeps a row group's encoded pages in
// memory until it is cut, so these two rules are also what bounds a load's memory.
package rowgroup

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

// HoldWithin writes out buffered row groups early, the largest first, while the open files' row groups together
// hold more than budget bytes in memory (Buffered.BufferedBytes): with many files open (Hive directories, Iceberg
// partitions), row groups get smaller instead of memory bigger. A single open file is left to AfterWrite's row
// group size. On an error it returns the file that failed.
func HoldWithin[K comparable, F any](open map[K]F, writer func(F) Buffered, budget int64) (F, error) {
	var none F
	if len(open) < 2 {
		return none, nil
	}
	cut := map[K]bool{} // each file at most once a call: a fresh row group is as small as it gets
	for {
		var total, largest int64
		var big K
		found := false
		for k, f := range open {
			n := writer(f).BufferedBytes()
			total += n
			if n > largest && !cut[k] {
				largest, big, found = n, k, true
			}
		}
		if total <= budget || !found {
			return none, nil
		}
		cut[big] = true
		if err := writer(open[big]).NewBufferedRowGroupChecked(); err != nil {
			return open[big], err
		}
	}
}
