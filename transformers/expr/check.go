package expr

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/jetflow-dev/jetflow/arrowtype"
)

var (
	dtBool   = arrow.FixedWidthTypes.Boolean
	dtInt64  = arrow.PrimitiveTypes.Int64
	dtInt32  = arrow.PrimitiveTypes.Int32
	dtFloat  = arrow.PrimitiveTypes.Float64
	dtString = arrow.BinaryTypes.String
	dtTS     = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
)

func isInt(dt arrow.DataType) bool   { return arrow.IsInteger(dt.ID()) }
func isFloat(dt arrow.DataType) bool { return dt.ID() == arrow.FLOAT32 || dt.ID() == arrow.FLOAT64 }
func isDecimal(dt arrow.DataType) bool {
	return dt.ID() == arrow.DECIMAL128 || dt.ID() == arrow.DECIMAL256
}
func isNumeric(dt arrow.DataType) bool { return isInt(dt) || isFloat(dt) || isDecimal(dt) }
func isString(dt arrow.DataType) bool {
	return dt.ID() == arrow.STRING || dt.ID() == arrow.LARGE_STRING
}
func isTemporal(dt arrow.DataType) bool {
	return dt.ID() == arrow.TIMESTAMP || dt.ID() == arrow.DATE32 || dt.ID() == arrow.DATE64
}
func isNullType(dt arrow.DataType) bool { return dt.ID() == arrow.NULL }

func typeName(dt arrow.DataType) string { return arrowtype.Format(dt) }

// Compiled is an expression checked against one input schema, ready to evaluate batches of that schema.
type Compiled struct {
	src    string
	root   *Node
	schema *arrow.Schema // the input schema it was checked against
}

// Type is the Arrow type the expression yields.
func (c *Compiled) Type() arrow.DataType { return c.root.typ }

// String returns the expression's text.
func (c *Compiled) String() string { return c.src }

// Compile parses src and checks it against schema: column names, operand and argument types, literal arguments.
// Errors are *Error with the position of the offending token.
func Compile(src string, schema *arrow.Schema) (*Compiled, error) {
	n, err := Parse(src)
	if err != nil {
		return nil, err
	}
	c := &checker{src: src, schema: schema}
	if err := c.check(n); err != nil {
		return nil, err
	}
	return &Compiled{src: src, root: n, schema: schema}, nil
}

type checker struct {
	src    string
	schema *arrow.Schema
}

func (c *checker) errf(n *Node, format string, args ...any) error {
	return errAt(c.src, n.pos, "", format, args...)
}

func (c *checker) check(n *Node) error {
	for _, a := range n.args {
		if err := c.check(a); err != nil {
			return err
		}
	}
	switch n.kind {
	case kLit:
		switch v := n.lit.(type) {
		case nil:
			n.typ = arrow.Null
		case bool:
			n.typ = dtBool
		case int64:
			n.typ = dtInt64
		case float64:
			n.typ = dtFloat
		case string:
			n.typ = dtString
		case time.Time:
			n.typ = dtTS
		default:
			return c.errf(n, "internal error: literal of Go type %T", v)
		}
	case kCol:
		idx := c.schema.FieldIndices(n.name)
		if len(idx) == 0 {
			names := make([]string, c.schema.NumFields())
			for i, f := range c.schema.Fields() {
				names[i] = f.Name
			}
			return errAt(c.src, n.pos, didYouMean(n.name, names), "unknown column %q", n.name)
		}
		if len(idx) > 1 {
			return c.errf(n, "column name %q is ambiguous: the input has %d columns of that name", n.name, len(idx))
		}
		n.col, n.typ = idx[0], c.schema.Field(idx[0]).Type
		if d, ok := n.typ.(*arrow.DictionaryType); ok {
			n.typ, n.decode = d.ValueType, true
		}
	case kUnary:
		x := n.args[0]
		if n.op == "not" {
			return c.wantBool(n, 0, "NOT")
		}
		if !isNumeric(x.typ) && !isNullType(x.typ) {
			return c.errf(n, "cannot negate %s: want a number", typeName(x.typ))
		}
		n.typ = numericResult(x.typ, x.typ)
		n.args[0] = c.castTo(x, n.typ)
	case kBinary:
		return c.binary(n)
	case kIsNull:
		n.typ = dtBool
	case kIn:
		for _, a := range n.args[1:] {
			if a.kind != kLit {
				return c.errf(a, "IN lists take literal values only")
			}
		}
		dt, err := c.unify(n, n.args, "IN")
		if err != nil {
			return err
		}
		if err := c.castAll(n.args, dt); err != nil {
			return err
		}
		n.typ = dtBool
	case kCase:
		var values []*Node
		for i := 0; i+1 < len(n.args); i += 2 {
			if err := c.wantBool(n, i, "WHEN"); err != nil {
				return err
			}
			values = append(values, n.args[i+1])
		}
		if n.hasElse {
			values = append(values, n.args[len(n.args)-1])
		}
		dt, err := c.unify(n, values, "CASE")
		if err != nil {
			return err
		}
		for i := range n.args {
			if i%2 == 1 || n.hasElse && i == len(n.args)-1 {
				n.args[i] = c.castTo(n.args[i], dt)
			}
		}
		n.typ = dt
	case kCall:
		return c.call(n)
	}
	return nil
}

func (c *checker) wantBool(n *Node, i int, what string) error {
	a := n.args[i]
	if isNullType(a.typ) {
		n.args[i] = c.castTo(a, dtBool)
	} else if a.typ.ID() != arrow.BOOL {
		return c.errf(a, "%s wants a boolean, got %s", what, typeName(a.typ))
	}
	if n.typ == nil {
		n.typ = dtBool
	}
	return nil
}

// numericResult is the type arithmetic yields: int64 for integers, float64 as soon as a float or decimal takes part.
func numericResult(a, b arrow.DataType) arrow.DataType {
	if isInt(a) && isInt(b) || isInt(a) && isNullType(b) || isNullType(a) && isInt(b) {
		return dtInt64
	}
	return dtFloat
}

func (c *checker) binary(n *Node) error {
	l, r := n.args[0], n.args[1]
	switch n.op {
	case "and", "or":
		n.typ = dtBool
		if err := c.wantBool(n, 0, strings.ToUpper(n.op)); err != nil {
			return err
		}
		return c.wantBool(n, 1, strings.ToUpper(n.op))
	case "+", "-", "*", "/", "%":
		for _, a := range n.args {
			if !isNumeric(a.typ) && !isNullType(a.typ) {
				return c.errf(n, "operator %s wants numbers, got %s %s %s", n.op, typeName(l.typ), n.op, typeName(r.typ))
			}
		}
		dt := numericResult(l.typ, r.typ)
		if n.op == "/" {
			dt = dtFloat // 7 / 2 is 3.5, as in Spark; integer division would surprise
		}
		n.args[0], n.args[1], n.typ = c.castTo(l, dt), c.castTo(r, dt), dt
		return nil
	default: // comparisons
		dt, err := c.unify(n, n.args, "operator "+n.op)
		if err != nil {
			return err
		}
		if dt.ID() == arrow.BINARY || dt.ID() == arrow.LARGE_BINARY {
			dt = arrow.BinaryTypes.Binary
		} else if !isNumeric(dt) && !isString(dt) && !isTemporal(dt) && dt.ID() != arrow.BOOL && !isNullType(dt) {
			return c.errf(n, "cannot compare values of type %s", typeName(dt))
		}
		if err := c.castAll(n.args, dt); err != nil {
			return err
		}
		n.typ = dtBool
		return nil
	}
}

// unify finds the one type the operands of a comparison, IN, CASE or coalesce convert to.
func (c *checker) unify(at *Node, xs []*Node, what string) (arrow.DataType, error) {
	var dt arrow.DataType
	var from *Node
	for _, x := range xs {
		t := x.typ
		switch {
		case isNullType(t):
			continue
		case dt == nil:
			dt, from = t, x
		case arrow.TypeEqual(dt, t):
		case isInt(dt) && isInt(t) && x.kind == kLit && fits(x.lit, dt):
			// an integer literal takes the column's type: no cast per batch, and uint64 stays comparable
		case isInt(dt) && isInt(t) && from.kind == kLit && fits(from.lit, t):
			dt, from = t, x
		case isNumeric(dt) && isNumeric(t):
			dt = numericResult(dt, t)
		case isString(dt) && isString(t):
			dt = dtString
		case isTemporal(dt) && x.kind == kLit && isString(t):
			// a text literal compared with a date or time: read it as one
		case isString(dt) && from.kind == kLit && isTemporal(t):
			dt, from = t, x
		case isTemporal(dt) && isTemporal(t):
			if x.kind == kLit { // a timestamp literal takes the column's type
				continue
			}
			if from.kind == kLit {
				dt, from = t, x
				continue
			}
			dt = dtTS
		default:
			return nil, c.errf(at, "%s: cannot combine %s and %s", what, typeName(dt), typeName(t))
		}
	}
	if dt == nil {
		return arrow.Null, nil
	}
	if dt.ID() == arrow.LARGE_STRING {
		dt = dtString // one string type for every kernel; large strings still fit after a cast per batch
	}
	return dt, nil
}

func (c *checker) castAll(xs []*Node, dt arrow.DataType) error {
	for i, x := range xs {
		if x.kind == kLit && isString(x.typ) && isTemporal(dt) {
			ts, err := parseTimestamp(x.lit.(string))
			if err != nil {
				return c.errf(x, "cannot read %q as a %s: want 2006-01-02, 2006-01-02 15:04:05 or RFC 3339 with a zone", x.lit, typeName(dt))
			}
			x.lit, x.typ = ts, dtTS
		}
		if !isNullType(x.typ) && !arrow.TypeEqual(x.typ, dt) && x.kind != kLit && !compute.CanCast(x.typ, dt) {
			return c.errf(x, "cannot convert %s to %s", typeName(x.typ), typeName(dt))
		}
		xs[i] = c.castTo(x, dt)
		if x.kind == kLit {
			// A literal that cannot take the type is a mistake in the file: say so at validate time.
			if _, err := literalScalar(x.lit, dt); err != nil {
				return c.errf(x, "%v", err)
			}
		}
	}
	return nil
}

// fits tells whether an integer literal is representable in the integer type dt.
func fits(lit any, dt arrow.DataType) bool {
	v, ok := lit.(int64)
	if !ok {
		return false
	}
	switch dt.ID() {
	case arrow.INT8:
		return v >= math.MinInt8 && v <= math.MaxInt8
	case arrow.INT16:
		return v >= math.MinInt16 && v <= math.MaxInt16
	case arrow.INT32:
		return v >= math.MinInt32 && v <= math.MaxInt32
	case arrow.INT64:
		return true
	case arrow.UINT8:
		return v >= 0 && v <= math.MaxUint8
	case arrow.UINT16:
		return v >= 0 && v <= math.MaxUint16
	case arrow.UINT32:
		return v >= 0 && v <= math.MaxUint32
	case arrow.UINT64:
		return v >= 0
	}
	return false
}

// castTo converts x to dt: a literal changes its type in place (its scalar is built once), anything else gets a
// cast node evaluated per batch.
func (c *checker) castTo(x *Node, dt arrow.DataType) *Node {
	if arrow.TypeEqual(x.typ, dt) {
		return x
	}
	if x.kind == kLit {
		if v, ok := x.lit.(int64); ok && isFloat(dt) {
			x.lit = float64(v)
		}
		x.typ = dt
		return x
	}
	return &Node{kind: kCast, pos: x.pos, typ: dt, args: []*Node{x}}
}

// usesPartition tells whether a parsed expression reads now(), run_instance() or partition_id().
func usesPartition(n *Node) bool {
	if f, ok := functions[n.op]; ok && n.kind == kCall && f.partition {
		return true
	}
	for _, a := range n.args {
		if usesPartition(a) {
			return true
		}
	}
	return false
}

// function is one entry of the function table.
type function struct {
	name      string
	sig, doc  string // for the README table and error messages
	min, max  int    // argument count; max -1 is variadic
	check     func(c *checker, n *Node) error
	partition bool // reads a per-partition constant
}

var functions = map[string]*function{}

func init() {
	for _, f := range functionList {
		functions[f.name] = f
	}
}

func functionNames() []string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (c *checker) call(n *Node) error {
	f, ok := functions[n.op]
	if !ok {
		return errAt(c.src, n.pos, didYouMean(n.op, functionNames()), "unknown function %q", n.op)
	}
	if len(n.args) < f.min || f.max >= 0 && len(n.args) > f.max {
		return c.errf(n, "%s takes %s, got %d", f.sig, countText(f.min, f.max), len(n.args))
	}
	n.fn = f
	return f.check(c, n)
}

func countText(lo, hi int) string {
	switch {
	case hi < 0:
		return fmt.Sprintf("at least %d arguments", lo)
	case lo == hi && lo == 1:
		return "1 argument"
	case lo == hi:
		return fmt.Sprintf("%d arguments", lo)
	}
	return fmt.Sprintf("%d to %d arguments", lo, hi)
}

// wantString accepts a string argument (large strings are cast) or a null literal.
func (c *checker) wantString(n *Node, i int) error {
	a := n.args[i]
	if !isString(a.typ) && !isNullType(a.typ) {
		return c.errf(a, "%s: argument %d wants a string, got %s", n.op, i+1, typeName(a.typ))
	}
	n.args[i] = c.castTo(a, dtString)
	return nil
}

// literal returns argument i, which must be a literal of Go type T.
func literal[T any](c *checker, n *Node, i int, what string) (T, error) {
	var zero T
	a := n.args[i]
	v, ok := a.lit.(T)
	if a.kind != kLit || !ok {
		return zero, c.errf(a, "%s: argument %d must be %s written in the expression", n.op, i+1, what)
	}
	return v, nil
}

func checkStrings(c *checker, n *Node) error {
	for i := range n.args {
		if err := c.wantString(n, i); err != nil {
			return err
		}
	}
	n.typ = dtString
	return nil
}

func checkSubstr(c *checker, n *Node) error {
	if err := c.wantString(n, 0); err != nil {
		return err
	}
	for i := 1; i < len(n.args); i++ {
		v, err := literal[int64](c, n, i, "an integer")
		if err != nil {
			return err
		}
		if i == 2 && v < 0 {
			return c.errf(n.args[i], "substr: length %d is negative", v)
		}
	}
	n.typ = dtString
	return nil
}

func checkConcat(c *checker, n *Node) error {
	for i, a := range n.args {
		switch {
		case isString(a.typ) || isNullType(a.typ):
			n.args[i] = c.castTo(a, dtString)
		case isNumeric(a.typ) || a.typ.ID() == arrow.BOOL || isTemporal(a.typ):
			if a.kind == kLit {
				n.args[i] = &Node{kind: kLit, pos: a.pos, lit: literalText(a.lit), typ: dtString}
				continue
			}
			if !compute.CanCast(a.typ, dtString) {
				return c.errf(a, "concat: cannot turn %s into text", typeName(a.typ))
			}
			n.args[i] = c.castTo(a, dtString)
		default:
			return c.errf(a, "concat: argument %d is %s; want text, a number, a boolean or a date", i+1, typeName(a.typ))
		}
	}
	n.typ = dtString
	return nil
}

func literalText(v any) string {
	if t, ok := v.(time.Time); ok {
		return t.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

func checkReplace(c *checker, n *Node) error {
	if err := c.wantString(n, 0); err != nil {
		return err
	}
	from, err := literal[string](c, n, 1, "a string")
	if err != nil {
		return err
	}
	if from == "" {
		return c.errf(n.args[1], "replace: the text to replace is empty")
	}
	if _, err := literal[string](c, n, 2, "a string"); err != nil {
		return err
	}
	n.typ = dtString
	return nil
}

func checkRegexp(c *checker, n *Node) error {
	if err := c.wantString(n, 0); err != nil {
		return err
	}
	pat, err := literal[string](c, n, 1, "a pattern string")
	if err != nil {
		return err
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return c.errf(n.args[1], "regexp_match: invalid pattern: %v", err)
	}
	n.args[1].lit = re // compiled once; evaluation only matches
	n.typ = dtBool
	return nil
}

func checkDatePart(c *checker, n *Node) error {
	a := n.args[0]
	if !isTemporal(a.typ) && !isNullType(a.typ) {
		return c.errf(a, "%s wants a date or timestamp, got %s", n.op, typeName(a.typ))
	}
	if n.op == "hour" && a.typ.ID() == arrow.DATE32 {
		return c.errf(a, "hour wants a timestamp, got %s", typeName(a.typ))
	}
	if err := c.timeArg(n, 0); err != nil {
		return err
	}
	n.typ = dtInt32
	return nil
}

// timeArg normalizes a temporal argument: date64 and null become timestamps, a zone is checked once.
func (c *checker) timeArg(n *Node, i int) error {
	a := n.args[i]
	switch {
	case isNullType(a.typ), a.typ.ID() == arrow.DATE64:
		n.args[i] = c.castTo(a, dtTS)
	case a.typ.ID() == arrow.TIMESTAMP:
		if _, err := zoneOf(a.typ.(*arrow.TimestampType)); err != nil {
			return c.errf(a, "%s: %v", n.op, err)
		}
	}
	return nil
}

var truncUnits = []string{"year", "quarter", "month", "week", "day", "hour", "minute", "second"}

func checkDateTrunc(c *checker, n *Node) error {
	unit, err := literal[string](c, n, 0, "a unit such as 'day'")
	if err != nil {
		return err
	}
	if !slices.Contains(truncUnits, strings.ToLower(unit)) {
		return errAt(c.src, n.args[0].pos, didYouMean(unit, truncUnits), "date_trunc: unknown unit %q (want one of %s)", unit, strings.Join(truncUnits, ", "))
	}
	unit = strings.ToLower(unit)
	n.args[0].lit = unit
	a := n.args[1]
	if !isTemporal(a.typ) && !isNullType(a.typ) {
		return c.errf(a, "date_trunc wants a date or timestamp, got %s", typeName(a.typ))
	}
	if a.typ.ID() == arrow.DATE32 && slices.Index(truncUnits, unit) > slices.Index(truncUnits, "day") {
		return c.errf(n.args[0], "date_trunc: a date has no %s", unit)
	}
	if err := c.timeArg(n, 1); err != nil {
		return err
	}
	n.typ = n.args[1].typ
	return nil
}

func checkHash(c *checker, n *Node) error {
	a := n.args[0]
	switch {
	case isString(a.typ), isNullType(a.typ):
		n.args[0] = c.castTo(a, dtString)
	case a.typ.ID() == arrow.BINARY, a.typ.ID() == arrow.LARGE_BINARY:
		n.args[0] = c.castTo(a, arrow.BinaryTypes.Binary)
	case isInt(a.typ) && n.op == "xxhash64":
		n.args[0] = c.castTo(a, dtInt64)
	case compute.CanCast(a.typ, dtString):
		n.args[0] = c.castTo(a, dtString)
	default:
		return c.errf(a, "%s: cannot hash %s", n.op, typeName(a.typ))
	}
	if n.op == "sha256" {
		n.typ = dtString
	} else {
		n.typ = dtInt64
	}
	return nil
}

func checkCoalesce(c *checker, n *Node) error {
	dt, err := c.unify(n, n.args, "coalesce")
	if err != nil {
		return err
	}
	if err := c.castAll(n.args, dt); err != nil {
		return err
	}
	n.typ = dt
	return nil
}

func constant(dt arrow.DataType) func(*checker, *Node) error {
	return func(_ *checker, n *Node) error { n.typ = dt; return nil }
}

var functionList = []*function{
	{name: "lower", sig: "lower(s)", min: 1, max: 1, check: checkStrings, doc: "lower case (Unicode)"},
	{name: "upper", sig: "upper(s)", min: 1, max: 1, check: checkStrings, doc: "upper case (Unicode)"},
	{name: "trim", sig: "trim(s)", min: 1, max: 1, check: checkStrings, doc: "removes leading and trailing white space"},
	{name: "ltrim", sig: "ltrim(s)", min: 1, max: 1, check: checkStrings, doc: "removes leading white space"},
	{name: "rtrim", sig: "rtrim(s)", min: 1, max: 1, check: checkStrings, doc: "removes trailing white space"},
	{name: "substr", sig: "substr(s, start[, length])", min: 2, max: 3, check: checkSubstr,
		doc: "characters from start (1-based; negative counts from the end) for length characters; start and length are integer literals"},
	{name: "concat", sig: "concat(a, b, ...)", min: 1, max: -1, check: checkConcat,
		doc: "joins its arguments as text (numbers, booleans and dates are formatted); null if any argument is null. `a || b` is the same"},
	{name: "replace", sig: "replace(s, from, to)", min: 3, max: 3, check: checkReplace, doc: "replaces every occurrence of the literal text from by to"},
	{name: "regexp_match", sig: "regexp_match(s, pattern)", min: 2, max: 2, check: checkRegexp,
		doc: "true when the literal RE2 pattern matches anywhere in s (anchor with ^ and $)"},
	{name: "year", sig: "year(t)", min: 1, max: 1, check: checkDatePart, doc: "year of a date or timestamp, int32, in the timestamp's zone (UTC when it has none)"},
	{name: "month", sig: "month(t)", min: 1, max: 1, check: checkDatePart, doc: "month 1-12, int32"},
	{name: "day", sig: "day(t)", min: 1, max: 1, check: checkDatePart, doc: "day of the month 1-31, int32"},
	{name: "hour", sig: "hour(t)", min: 1, max: 1, check: checkDatePart, doc: "hour 0-23 of a timestamp, int32"},
	{name: "date_trunc", sig: "date_trunc(unit, t)", min: 2, max: 2, check: checkDateTrunc,
		doc: "t truncated to the start of its year, quarter, month, week (Monday), day, hour, minute or second; same type as t"},
	{name: "sha256", sig: "sha256(x)", min: 1, max: 1, check: checkHash,
		doc: "SHA-256 of the bytes of a string or binary (other types as text), as 64 lower-case hex digits"},
	{name: "xxhash64", sig: "xxhash64(x)", min: 1, max: 1, check: checkHash,
		doc: "XXH64 (seed 0) as int64: of the bytes of a string or binary, of the 8 little-endian bytes of an integer, of other types as text"},
	{name: "coalesce", sig: "coalesce(a, b, ...)", min: 1, max: -1, check: checkCoalesce, doc: "the first argument that is not null"},
	{name: "now", sig: "now()", min: 0, max: 0, check: constant(dtTS), partition: true,
		doc: "the time the partition started to be transformed, timestamp[us, UTC]; one value for the whole partition"},
	{name: "run_instance", sig: "run_instance()", min: 0, max: 0, check: constant(dtString), partition: true,
		doc: "the run instance's label, such as 2026-11-22"},
	{name: "partition_id", sig: "partition_id()", min: 0, max: 0, check: constant(dtString), partition: true,
		doc: "the id of the partition being transformed"},
}

// zoneOf loads a timestamp type's zone; no zone means UTC.
func zoneOf(t *arrow.TimestampType) (*time.Location, error) {
	if t.TimeZone == "" || t.TimeZone == "UTC" {
		return time.UTC, nil
	}
	loc, err := t.GetZone()
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q in %s", t.TimeZone, typeName(t))
	}
	if loc == nil {
		return time.UTC, nil
	}
	return loc, nil
}
