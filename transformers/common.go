// Package transformers holds jetflow's structural transformers: select, drop, rename, reorder, cast, metadata,
// hash, mask, flatten, explode, dedupe, json_extract and schema. Each one works on whole Arrow arrays per batch:
// column arrays are reused where the data does not change (zero-copy, with Retain), and new arrays are built
// with typed builders or arrow-go compute kernels, never value by value through interfaces.
//
// Importing the package registers every transformer type with the stage registry.
package transformers

import (
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/jetflow-dev/jetflow/internal/suggest"
	"github.com/jetflow-dev/jetflow/stage"
)

// columnNames lists the names of a schema's fields in order.
func columnNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}

// findColumn returns the index of the column called name, or a FieldError at path that says what the input
// holds and which name was probably meant.
func findColumn(s *arrow.Schema, name, path string) (int, error) {
	idx := s.FieldIndices(name)
	switch len(idx) {
	case 1:
		return idx[0], nil
	case 0:
		names := columnNames(s)
		hint := ""
		if best, ok := suggest.Closest(name, names); ok {
			hint = fmt.Sprintf(" (did you mean %q?)", best)
		}
		return -1, stage.FieldErrorf(path, "no column %q in the input%s; its columns are: %s", name, hint, strings.Join(names, ", "))
	default:
		return -1, stage.FieldErrorf(path, "column %q appears %d times in the input; rename one of them first", name, len(idx))
	}
}

// releaseAll releases every non-nil array of cols.
func releaseAll(cols []arrow.Array) {
	for _, c := range cols {
		if c != nil {
			c.Release()
		}
	}
}

// project builds a batch of the input's columns at idx under schema out, sharing the column arrays.
func project(out *arrow.Schema, in arrow.RecordBatch, idx []int) arrow.RecordBatch {
	cols := make([]arrow.Array, len(idx))
	for i, j := range idx {
		cols[i] = in.Column(j)
	}
	// NewRecordBatch retains each column, so the result owns its own references.
	return array.NewRecordBatch(out, cols, in.NumRows())
}

// checkUnique reports two output columns with one name, which Arrow allows but no loader or reader handles.
func checkUnique(fields []arrow.Field, path string) error {
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if seen[f.Name] {
			return stage.FieldErrorf(path, "the output would hold two columns named %q; rename or drop one", f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// sortedKeys returns a map's keys in order, so that errors and outputs do not depend on map iteration.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Flusher is stage.Flusher: the engine calls Flush on dedupe's partition instances after the last batch.
type Flusher = stage.Flusher

// validity reads an array's validity bitmap directly, so loops over values test nulls without an interface call
// per value. Its zero value (an array without nulls) reports no nulls.
type validity struct {
	bits []byte
	off  int
}

func validityOf(a arrow.Array) validity {
	if a.NullN() == 0 || a.NullBitmapBytes() == nil {
		return validity{}
	}
	return validity{bits: a.NullBitmapBytes(), off: a.Data().Offset()}
}

func (v validity) null(i int) bool {
	return v.bits != nil && !bitutil.BitIsSet(v.bits, v.off+i)
}
