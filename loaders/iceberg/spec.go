package iceberg

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"

	"github.com/jetflow-dev/jetflow/stage"
)

// partitionExpr is one parsed partition_by entry.
type partitionExpr struct {
	column    string
	transform iceberg.Transform
	name      string // the partition field's name, as Spark and PyIceberg name it
	text      string // as written, for messages
}

// parsePartitionExpr reads column, identity(c), year(c), month(c), day(c), hour(c), void(c), bucket(N, c) or
// truncate(W, c).
func parsePartitionExpr(s string) (partitionExpr, error) {
	e, err := parsePartitionText(strings.TrimSpace(s))
	e.text = strings.TrimSpace(s)
	return e, err
}

func parsePartitionText(s string) (partitionExpr, error) {
	if s == "" {
		return partitionExpr{}, errors.New("empty partition expression")
	}
	open := strings.IndexByte(s, '(')
	if open < 0 {
		if strings.ContainsAny(s, ") ,") {
			return partitionExpr{}, fmt.Errorf("cannot read %q: write a column or transform(column)", s)
		}
		return partitionExpr{column: s, transform: iceberg.IdentityTransform{}, name: s}, nil
	}
	if !strings.HasSuffix(s, ")") {
		return partitionExpr{}, fmt.Errorf("cannot read %q: missing ')'", s)
	}
	fn := strings.ToLower(strings.TrimSpace(s[:open]))
	args := strings.Split(s[open+1:len(s)-1], ",")
	for i := range args {
		args[i] = strings.TrimSpace(args[i])
	}
	one := func() (string, error) {
		if len(args) != 1 || args[0] == "" {
			return "", fmt.Errorf("%s takes one column: %s(column)", fn, fn)
		}
		return args[0], nil
	}
	withN := func() (int, string, error) {
		if len(args) != 2 || args[1] == "" {
			return 0, "", fmt.Errorf("%s takes a number and a column: %s(16, id)", fn, fn)
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n <= 0 {
			return 0, "", fmt.Errorf("%s(%s, ...): %q is not a positive number", fn, args[0], args[0])
		}
		return n, args[1], nil
	}
	switch fn {
	case "identity", "year", "month", "day", "hour", "void":
		col, err := one()
		if err != nil {
			return partitionExpr{}, err
		}
		tr := map[string]iceberg.Transform{
			"identity": iceberg.IdentityTransform{}, "year": iceberg.YearTransform{}, "month": iceberg.MonthTransform{},
			"day": iceberg.DayTransform{}, "hour": iceberg.HourTransform{}, "void": iceberg.VoidTransform{},
		}[fn]
		name := col
		if fn != "identity" {
			name = col + "_" + fn
		}
		return partitionExpr{column: col, transform: tr, name: name}, nil
	case "bucket":
		n, col, err := withN()
		if err != nil {
			return partitionExpr{}, err
		}
		return partitionExpr{column: col, transform: iceberg.BucketTransform{NumBuckets: n}, name: col + "_bucket"}, nil
	case "truncate":
		n, col, err := withN()
		if err != nil {
			return partitionExpr{}, err
		}
		return partitionExpr{column: col, transform: iceberg.TruncateTransform{Width: n}, name: col + "_trunc"}, nil
	}
	return partitionExpr{}, fmt.Errorf("unknown transform %q: want identity, year, month, day, hour, bucket, truncate or void", fn)
}

// joinSplit undoes YAML's split of a flow sequence at the comma inside bucket(16, id): `[day(ts), bucket(16,
// id)]` reaches the loader as "day(ts)", "bucket(16", "id)". It joins pieces until the parentheses balance and
// returns, for each expression, the index of its first piece (where errors point).
func joinSplit(in []string) (exprs []string, at []int) {
	for i := 0; i < len(in); i++ {
		s, start := in[i], i
		for strings.Count(s, "(") > strings.Count(s, ")") && i+1 < len(in) {
			i++
			s += ", " + strings.TrimSpace(in[i])
		}
		exprs, at = append(exprs, s), append(at, start)
	}
	return exprs, at
}

// redundantPartitions finds the partition_by entries Iceberg refuses as redundant, without the table's schema:
// two time transforms (year, month, day, hour) of one column, where the finer one already holds the coarser,
// and the same transform of one column twice. at gives each entry's index in partition_by.
func redundantPartitions(exprs []partitionExpr, at []int) []error {
	var errs []error
	first := map[string]int{} // column and transform class → index in exprs
	for i, e := range exprs {
		class := e.transform.String()
		if isTimeTransform(e.transform) {
			class = "time"
		}
		key := e.column + "\x00" + class
		j, seen := first[key]
		if !seen {
			first[key] = i
			continue
		}
		path := fmt.Sprintf("partition_by[%d]", at[i])
		if class == "time" && e.transform.String() != exprs[j].transform.String() {
			errs = append(errs, stage.FieldErrorf(path, "%q conflicts with %q at partition_by[%d]: a column takes one time "+
				"transform, as the finer one already holds the coarser; keep one of the two", e.text, exprs[j].text, at[j]))
			continue
		}
		errs = append(errs, stage.FieldErrorf(path, "%q repeats %q at partition_by[%d]; remove one of the two",
			e.text, exprs[j].text, at[j]))
	}
	return errs
}

func isTimeTransform(t iceberg.Transform) bool {
	switch t.(type) {
	case iceberg.YearTransform, iceberg.MonthTransform, iceberg.DayTransform, iceberg.HourTransform:
		return true
	}
	return false
}

// buildSpec makes the partition spec of partition_by over sc, with errors at the offending entry.
func buildSpec(list []string, sc *iceberg.Schema) (iceberg.PartitionSpec, error) {
	var (
		opts []iceberg.PartitionOption
		errs []error
	)
	names := map[string]bool{}
	exprs, at := joinSplit(list)
	for i, s := range exprs {
		key := fmt.Sprintf("partition_by[%d]", at[i])
		e, err := parsePartitionExpr(s)
		if err != nil {
			errs = append(errs, stage.FieldErrorf(key, "%v", err))
			continue
		}
		f, ok := sc.FindFieldByName(e.column)
		if !ok {
			errs = append(errs, stage.FieldErrorf(key, "no column %q in the loader's input (columns: %s)", e.column, fieldNames(sc)))
			continue
		}
		if !e.transform.CanTransform(f.Type) {
			errs = append(errs, stage.FieldErrorf(key, "%s cannot apply to column %q of type %s", e.transform, e.column, f.Type))
			continue
		}
		if names[e.name] {
			errs = append(errs, stage.FieldErrorf(key, "partition field %q is listed twice", e.name))
			continue
		}
		names[e.name] = true
		opts = append(opts, iceberg.AddPartitionFieldBySourceID(f.ID, e.name, e.transform, sc, nil))
	}
	if len(errs) > 0 {
		return iceberg.PartitionSpec{}, errors.Join(errs...)
	}
	spec, err := iceberg.NewPartitionSpecOpts(opts...)
	if err != nil {
		return iceberg.PartitionSpec{}, stage.FieldErrorf("partition_by", "%v", err)
	}
	return spec, nil
}

func fieldNames(sc *iceberg.Schema) string {
	names := make([]string, 0, sc.NumFields())
	for _, f := range sc.Fields() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }
