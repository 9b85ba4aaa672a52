package sqlsource

import (
	"strings"
	"text/template"

	"github.com/jetflow-dev/jetflow/stage"
)

// bounds is what a query template sees as .Partition.
type bounds struct{ lo, hi func() string }

func (b bounds) Lo() string { return b.lo() }
func (b bounds) Hi() string { return b.hi() }

// Render executes a query template whose {{ .Partition.Lo }} and {{ .Partition.Hi }} write what lo and hi return:
// a bind parameter or a literal, as the consumer writes them (they also learn whether, and in which order, the
// query uses them).
func Render(tmpl *template.Template, lo, hi func() string) (string, error) {
	var sb strings.Builder
	if err := tmpl.Execute(&sb, map[string]any{"Partition": bounds{lo, hi}}); err != nil {
		return "", stage.FieldErrorf("query", "template: %v (the query sees .Partition.Lo and .Partition.Hi)", err)
	}
	return sb.String(), nil
}

// CheckBoundsUsed checks a query's use of the bounds against partition.column: a query that uses them needs a
// column to cut by, and a column set for a query that ignores them would read every row in every partition.
func CheckBoundsUsed(used bool, column string) error {
	if used && column == "" {
		return stage.FieldErrorf("partition.column", "the query uses {{ .Partition.Lo }}/{{ .Partition.Hi }}: set partition.column and how to cut it")
	}
	if !used && column != "" {
		return stage.FieldErrorf("query", "partition.column is set but the query does not use {{ .Partition.Lo }} and {{ .Partition.Hi }}; every partition would read every row")
	}
	return nil
}
