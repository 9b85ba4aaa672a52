package records

import (
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// maxCellDiffs is how many differing cells a report lists; past that it counts them.
const maxCellDiffs = 20

// DiffOption adjusts how DiffRecords compares.
type DiffOption func(*diffConfig)

type diffConfig struct {
	sortBy            []string
	ignoreNullability bool
}

// SortBy compares the rows of both records in the order of these columns (ascending, nulls first, ties kept in
// input order), for stages whose output order is not defined. Row numbers in the report count in that order.
func SortBy(columns ...string) DiffOption {
	return func(c *diffConfig) { c.sortBy = append(c.sortBy, columns...) }
}

// IgnoreNullability compares schemas without the nullable flag of top-level columns.
func IgnoreNullability() DiffOption {
	return func(c *diffConfig) { c.ignoreNullability = true }
}

// DiffRecords returns "" when want and got hold the same schema and rows, and otherwise a report for a human:
// schema differences first, then the row counts, then up to 20 differing cells such as
//
//	row 3, column "total": want 12.50, got 12.5
//
// Cells are compared by canonical text (see the package doc), so NaN equals NaN and 12.50 in a decimal(9,2)
// differs from 12.500 in a decimal(9,3). Columns are matched by name; a column whose type differs is reported
// once in the schema section, not cell by cell. Schema metadata is ignored. A nil record stands for no output.
func DiffRecords(want, got arrow.RecordBatch, opts ...DiffOption) string {
	var cfg diffConfig
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case want == nil && got == nil:
		return ""
	case want == nil:
		return fmt.Sprintf("want no record, got %d rows of schema %s\n", got.NumRows(), got.Schema())
	case got == nil:
		return fmt.Sprintf("want %d rows of schema %s, got no record\n", want.NumRows(), want.Schema())
	}

	var out strings.Builder
	if s := diffSchemasCfg(want.Schema(), got.Schema(), cfg); s != "" {
		out.WriteString("schema:\n")
		out.WriteString(s)
	}
	if want.NumRows() != got.NumRows() {
		fmt.Fprintf(&out, "rows: want %d, got %d\n", want.NumRows(), got.NumRows())
	}

	var sb strings.Builder
	wantOrder, wantErr := rowOrder(&sb, want, cfg.sortBy)
	gotOrder, gotErr := rowOrder(&sb, got, cfg.sortBy)
	if wantErr != nil || gotErr != nil {
		if wantErr != nil {
			fmt.Fprintf(&out, "cannot sort want: %v\n", wantErr)
		}
		if gotErr != nil {
			fmt.Fprintf(&out, "cannot sort got: %v\n", gotErr)
		}
		return out.String()
	}

	rows := min(want.NumRows(), got.NumRows())
	var cells []string
	differing := 0
	for r := range int(rows) {
		wr, gr := r, r
		if wantOrder != nil {
			wr, gr = wantOrder[r], gotOrder[r]
		}
		for c, f := range want.Schema().Fields() {
			gi := got.Schema().FieldIndices(f.Name)
			if len(gi) != 1 || !arrow.TypeEqual(f.Type, got.Schema().Field(gi[0]).Type) {
				continue // reported in the schema section
			}
			w := cellText(&sb, want.Column(c), wr)
			g := cellText(&sb, got.Column(gi[0]), gr)
			if w == g {
				continue
			}
			differing++
			if len(cells) < maxCellDiffs {
				cells = append(cells, fmt.Sprintf("  row %d, column %q: want %s, got %s\n", r, f.Name, w, g))
			}
		}
	}
	if differing > 0 {
		out.WriteString("cells")
		if len(cfg.sortBy) > 0 {
			fmt.Fprintf(&out, " (rows sorted by %s)", strings.Join(cfg.sortBy, ", "))
		}
		out.WriteString(":\n")
		for _, c := range cells {
			out.WriteString(c)
		}
		if differing > len(cells) {
			fmt.Fprintf(&out, "  ... and %d more differing cells\n", differing-len(cells))
		}
	}
	return out.String()
}

// diffSchemas reports the differences between two schemas, one per line, or "".
// DiffSchemas reports, one line each, the columns that differ between want and got; "" when they are equal.
func DiffSchemas(want, got *arrow.Schema) string { return diffSchemasCfg(want, got, diffConfig{}) }

func diffSchemasCfg(want, got *arrow.Schema, cfg diffConfig) string {
	var out strings.Builder
	for _, f := range want.Fields() {
		gi := got.FieldIndices(f.Name)
		switch {
		case len(gi) == 0:
			fmt.Fprintf(&out, "  column %q: missing (want %s)\n", f.Name, fieldText(f))
			continue
		case len(gi) > 1:
			fmt.Fprintf(&out, "  column %q: appears %d times in got\n", f.Name, len(gi))
			continue
		}
		g := got.Field(gi[0])
		if !arrow.TypeEqual(f.Type, g.Type) {
			fmt.Fprintf(&out, "  column %q: want %s, got %s\n", f.Name, f.Type, g.Type)
		} else if f.Nullable != g.Nullable && !cfg.ignoreNullability {
			fmt.Fprintf(&out, "  column %q: want %s, got %s\n", f.Name, nullability(f.Nullable), nullability(g.Nullable))
		}
	}
	for _, g := range got.Fields() {
		if !want.HasField(g.Name) {
			fmt.Fprintf(&out, "  column %q: not expected (got %s)\n", g.Name, fieldText(g))
		}
	}
	if out.Len() == 0 {
		wn, gn := fieldNames(want), fieldNames(got)
		if !slices.Equal(wn, gn) {
			fmt.Fprintf(&out, "  column order: want %s, got %s\n", strings.Join(wn, ", "), strings.Join(gn, ", "))
		}
	}
	return out.String()
}

func fieldText(f arrow.Field) string { return f.Type.String() + ", " + nullability(f.Nullable) }

func nullability(nullable bool) string {
	if nullable {
		return "nullable"
	}
	return "not null"
}

func fieldNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}

// rowOrder returns the row indices of rec sorted by columns, or nil when columns is empty.
func rowOrder(sb *strings.Builder, rec arrow.RecordBatch, columns []string) ([]int, error) {
	if len(columns) == 0 {
		return nil, nil
	}
	keys := make([]arrow.Array, len(columns))
	for k, name := range columns {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("SortBy column %q is not one of its columns (%s)", name, strings.Join(fieldNames(rec.Schema()), ", "))
		}
		keys[k] = rec.Column(idx[0])
	}
	order := make([]int, rec.NumRows())
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		for _, k := range keys {
			if c := compareCells(sb, k, i, j); c != 0 {
				return c
			}
		}
		return 0
	})
	return order, nil
}
