package expr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// Constants are the values of now(), run_instance() and partition_id() while one partition is transformed.
type Constants struct {
	Now         time.Time
	RunInstance string
	PartitionID string
	// Set is false outside a partition (a transformer not given one): the constants then evaluate to null.
	Set bool
}

// Eval evaluates the expression over a whole batch of the schema it was compiled against. The result has one
// value per row and belongs to the caller.
func (c *Compiled) Eval(ctx context.Context, mem memory.Allocator, batch arrow.RecordBatch, k Constants) (arrow.Array, error) {
	if int(batch.NumCols()) != c.schema.NumFields() {
		return nil, fmt.Errorf("evaluating %q: batch has %d columns, but the expression was checked against %d", c.src, batch.NumCols(), c.schema.NumFields())
	}
	ev := &evaluator{src: c.src, ctx: exec.WithAllocator(ctx, mem), mem: mem, batch: batch, rows: int(batch.NumRows()), k: k}
	d, err := ev.eval(c.root)
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %w", c.src, err)
	}
	return ev.array(d)
}

type evaluator struct {
	src   string
	ctx   context.Context
	mem   memory.Allocator
	batch arrow.RecordBatch
	rows  int
	k     Constants
}

// array turns a datum into an array of one value per row, taking over (and releasing) the datum.
func (ev *evaluator) array(d compute.Datum) (arrow.Array, error) {
	defer d.Release()
	switch v := d.(type) {
	case *compute.ArrayDatum:
		return v.MakeArray(), nil
	case *compute.ScalarDatum:
		arr, err := scalar.MakeArrayFromScalar(v.Value, ev.rows, ev.mem)
		if err != nil {
			return nil, fmt.Errorf("broadcasting %s: %w", v.Value, err)
		}
		return arr, nil
	}
	return nil, fmt.Errorf("internal error: unexpected datum %s", d.Kind())
}

// arrays evaluates nodes to arrays; on error it releases what it made.
func (ev *evaluator) arrays(nodes []*Node) ([]arrow.Array, error) {
	out := make([]arrow.Array, 0, len(nodes))
	for _, n := range nodes {
		d, err := ev.eval(n)
		if err == nil {
			var a arrow.Array
			if a, err = ev.array(d); err == nil {
				out = append(out, a)
				continue
			}
		}
		releaseAll(out)
		return nil, err
	}
	return out, nil
}

func releaseAll(as []arrow.Array) {
	for _, a := range as {
		if a != nil {
			a.Release()
		}
	}
}

func (ev *evaluator) call(name string, opts compute.FunctionOptions, args ...*Node) (compute.Datum, error) {
	ds := make([]compute.Datum, 0, len(args))
	defer func() {
		for _, d := range ds {
			d.Release()
		}
	}()
	for _, a := range args {
		d, err := ev.eval(a)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return compute.CallFunction(ev.ctx, name, opts, ds...)
}

var binaryKernels = map[string][2]string{ // op → kernel for integers, kernel for floats
	"+": {"add", "add_unchecked"}, "-": {"subtract", "subtract_unchecked"}, "*": {"multiply", "multiply_unchecked"},
	"/": {"divide", "divide_unchecked"},
	"=": {"equal", "equal"}, "!=": {"not_equal", "not_equal"}, "<": {"less", "less"}, "<=": {"less_equal", "less_equal"},
	">": {"greater", "greater"}, ">=": {"greater_equal", "greater_equal"}, "and": {"and_kleene", "and_kleene"},
	"or": {"or_kleene", "or_kleene"},
}

func (ev *evaluator) eval(n *Node) (compute.Datum, error) {
	switch n.kind {
	case kLit:
		sc, err := literalScalar(n.lit, n.typ)
		if err != nil {
			return nil, err
		}
		return compute.NewDatum(sc), nil
	case kCol:
		arr := ev.batch.Column(n.col)
		if n.decode {
			dict := arr.(*array.Dictionary)
			out, err := compute.TakeArray(ev.ctx, dict.Dictionary(), dict.Indices())
			if err != nil {
				return nil, fmt.Errorf("decoding dictionary column %q: %w", n.name, err)
			}
			defer out.Release()
			return compute.NewDatum(out), nil
		}
		return compute.NewDatum(arr), nil
	case kCast:
		d, err := ev.eval(n.args[0])
		if err != nil {
			return nil, err
		}
		defer d.Release()
		from := n.args[0].typ
		if n.typ.ID() == arrow.STRING && !isString(from) && !isNullType(from) {
			return ev.toText(d, from)
		}
		out, err := compute.CastDatum(ev.ctx, d, compute.SafeCastOptions(n.typ))
		if err != nil {
			return nil, ev.fail(n, err, "converting %s to %s", typeName(n.args[0].typ), typeName(n.typ))
		}
		return out, nil
	case kUnary:
		if n.op == "not" {
			return ev.unaryKernel(n, notKernel)
		}
		if isInt(n.typ) {
			return ev.call("negate", nil, n.args[0])
		}
		return ev.call("negate_unchecked", nil, n.args[0])
	case kIsNull:
		return ev.unaryKernel(n, isNullKernel)
	case kBinary:
		if n.op == "%" {
			return ev.modulo(n)
		}
		k := binaryKernels[n.op]
		name := k[0]
		if isFloat(n.typ) || isFloat(n.args[0].typ) {
			name = k[1]
		}
		d, err := ev.call(name, nil, n.args...)
		if err != nil {
			return nil, ev.fail(n, err, "operator %s", n.op)
		}
		return d, nil
	case kIn:
		return ev.in(n)
	case kCase:
		return ev.caseWhen(n)
	case kCall:
		return ev.function(n)
	}
	return nil, fmt.Errorf("internal error: node kind %d", n.kind)
}

// fail reports an error of the kernel at n with n's position, once: an error from deeper down passes through.
func (ev *evaluator) fail(n *Node, err error, format string, args ...any) error {
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	msg := strings.TrimPrefix(err.Error(), "invalid: ")
	if strings.Contains(msg, "overflow") && isInt(n.typ) {
		msg = "int64 overflow (compute in float64 by writing 1.0 * x)"
	}
	return errAt(ev.src, n.pos, "", "%s: %s", fmt.Sprintf(format, args...), msg)
}

// literalScalar builds the scalar of a literal in the type the checker gave it.
func literalScalar(lit any, dt arrow.DataType) (scalar.Scalar, error) {
	if lit == nil {
		return scalar.MakeNullScalar(dt), nil
	}
	switch v := lit.(type) {
	case time.Time:
		switch t := dt.(type) {
		case *arrow.TimestampType:
			ts, err := arrow.TimestampFromTime(v, t.Unit)
			if err != nil {
				return nil, fmt.Errorf("timestamp %s does not fit %s: %w", v.Format(time.RFC3339Nano), typeName(dt), err)
			}
			return scalar.NewTimestampScalar(ts, t), nil
		case *arrow.Date32Type:
			return scalar.NewDate32Scalar(arrow.Date32FromTime(v)), nil
		case *arrow.Date64Type:
			return scalar.NewDate64Scalar(arrow.Date64FromTime(v)), nil
		}
	case string:
		if dt.ID() == arrow.STRING {
			return scalar.NewStringScalar(v), nil
		}
	}
	sc := scalar.MakeScalar(lit)
	if arrow.TypeEqual(sc.DataType(), dt) {
		return sc, nil
	}
	out, err := sc.CastTo(dt)
	if err != nil {
		return nil, fmt.Errorf("literal %v as %s: %w", lit, typeName(dt), err)
	}
	return out, nil
}

func (ev *evaluator) in(n *Node) (compute.Datum, error) {
	if ev.rows == 0 { // arrow-go's is_in (v18.8.0) leaks its string hash table on empty input
		out := array.MakeArrayOfNull(ev.mem, dtBool, 0)
		defer out.Release()
		return compute.NewDatum(out), nil
	}
	set := make([]arrow.Array, 0, len(n.args)-1)
	defer func() { releaseAll(set) }()
	for _, a := range n.args[1:] {
		sc, err := literalScalar(a.lit, a.typ)
		if err != nil {
			return nil, err
		}
		one, err := scalar.MakeArrayFromScalar(sc, 1, ev.mem)
		if err != nil {
			return nil, fmt.Errorf("IN list: %w", err)
		}
		set = append(set, one)
	}
	values, err := array.Concatenate(set, ev.mem)
	if err != nil {
		return nil, fmt.Errorf("IN list: %w", err)
	}
	defer values.Release()
	d, err := ev.call("is_in", &compute.SetOptions{ValueSet: compute.NewDatumWithoutOwning(values), NullBehavior: compute.NullMatchingEmitNull}, n.args[0])
	if err != nil || !n.not {
		return d, err
	}
	arr, err := ev.array(d)
	if err != nil {
		return nil, err
	}
	defer arr.Release()
	out := notKernel(ev.mem, n, arr)
	defer out.Release()
	return compute.NewDatum(out), nil
}

// unaryKernel runs one of the package's own kernels over the node's only argument.
func (ev *evaluator) unaryKernel(n *Node, k func(memory.Allocator, *Node, arrow.Array) arrow.Array) (compute.Datum, error) {
	as, err := ev.arrays(n.args[:1])
	if err != nil {
		return nil, err
	}
	defer releaseAll(as)
	out := k(ev.mem, n, as[0])
	defer out.Release()
	return compute.NewDatum(out), nil
}

// choose builds the result of CASE and coalesce: idx[i] is k*rows+i to take row i from candidate k, or null.
// The candidates are concatenated and one Take gathers every row, whatever the type.
func (ev *evaluator) choose(dt arrow.DataType, candidates []arrow.Array, idx *array.Int64) (compute.Datum, error) {
	if ev.rows == 0 || len(candidates) == 0 {
		out := array.MakeArrayOfNull(ev.mem, dt, ev.rows)
		defer out.Release()
		return compute.NewDatum(out), nil
	}
	all, err := array.Concatenate(candidates, ev.mem)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	out, err := compute.TakeArray(ev.ctx, all, idx)
	if err != nil {
		return nil, err
	}
	defer out.Release()
	return compute.NewDatum(out), nil
}

func (ev *evaluator) indexBuilder() *array.Int64Builder {
	ib := array.NewInt64Builder(ev.mem)
	ib.Reserve(ev.rows)
	return ib
}

func (ev *evaluator) caseWhen(n *Node) (compute.Datum, error) {
	var conds, values []*Node
	for i := 0; i+1 < len(n.args); i += 2 {
		conds, values = append(conds, n.args[i]), append(values, n.args[i+1])
	}
	if n.hasElse {
		values = append(values, n.args[len(n.args)-1])
	}
	ca, err := ev.arrays(conds)
	if err != nil {
		return nil, err
	}
	defer releaseAll(ca)
	va, err := ev.arrays(values)
	if err != nil {
		return nil, err
	}
	defer releaseAll(va)
	bs := make([]*array.Boolean, len(ca))
	for i, a := range ca {
		bs[i] = a.(*array.Boolean)
	}
	elseK := -1
	if n.hasElse {
		elseK = len(conds)
	}
	ib := ev.indexBuilder()
	defer ib.Release()
	rows := int64(ev.rows)
	for i := range ev.rows {
		k := elseK
		for j, b := range bs {
			if b.IsValid(i) && b.Value(i) {
				k = j
				break
			}
		}
		if k < 0 {
			ib.UnsafeAppendBoolToBitmap(false)
		} else {
			ib.UnsafeAppend(int64(k)*rows + int64(i))
		}
	}
	idx := ib.NewInt64Array()
	defer idx.Release()
	d, err := ev.choose(n.typ, va, idx)
	if err != nil {
		return nil, fmt.Errorf("CASE: %w", err)
	}
	return d, nil
}

func (ev *evaluator) coalesce(n *Node) (compute.Datum, error) {
	va, err := ev.arrays(n.args)
	if err != nil {
		return nil, err
	}
	defer releaseAll(va)
	if va[0].NullN() == 0 {
		return compute.NewDatum(va[0]), nil
	}
	// Validity bitmaps read directly: IsValid through arrow.Array would be an interface call per value.
	type bitmap struct {
		bits    []byte
		off     int
		allNull bool
	}
	bms := make([]bitmap, len(va))
	for k, a := range va {
		bms[k] = bitmap{a.NullBitmapBytes(), a.Data().Offset(), a.NullN() == a.Len() || a.DataType().ID() == arrow.NULL}
	}
	ib := ev.indexBuilder()
	defer ib.Release()
	rows := int64(ev.rows)
	for i := range ev.rows {
		k := -1
		for j, bm := range bms {
			if !bm.allNull && (len(bm.bits) == 0 || bitutil.BitIsSet(bm.bits, bm.off+i)) {
				k = j
				break
			}
		}
		if k < 0 {
			ib.UnsafeAppendBoolToBitmap(false)
		} else {
			ib.UnsafeAppend(int64(k)*rows + int64(i))
		}
	}
	idx := ib.NewInt64Array()
	defer idx.Release()
	d, err := ev.choose(n.typ, va, idx)
	if err != nil {
		return nil, fmt.Errorf("coalesce: %w", err)
	}
	return d, nil
}

func (ev *evaluator) constant(sc scalar.Scalar) compute.Datum {
	if !ev.k.Set {
		return compute.NewDatum(scalar.MakeNullScalar(sc.DataType()))
	}
	return compute.NewDatum(sc)
}

func (ev *evaluator) function(n *Node) (compute.Datum, error) {
	switch n.op {
	case "coalesce":
		return ev.coalesce(n)
	case "now":
		ts, _ := arrow.TimestampFromTime(ev.k.Now.UTC(), arrow.Microsecond)
		return ev.constant(scalar.NewTimestampScalar(ts, dtTS)), nil
	case "run_instance":
		return ev.constant(scalar.NewStringScalar(ev.k.RunInstance)), nil
	case "partition_id":
		return ev.constant(scalar.NewStringScalar(ev.k.PartitionID)), nil
	}
	// The rest are typed loops over the first argument's array; their other arguments are literals.
	var args []arrow.Array
	var err error
	if n.op == "concat" || n.op == "date_trunc" {
		args, err = ev.concatArgs(n)
	} else {
		args, err = ev.arrays(n.args[:1])
	}
	if err != nil {
		return nil, err
	}
	defer releaseAll(args)
	out, err := ev.kernel(n, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.op, err)
	}
	defer out.Release()
	return compute.NewDatum(out), nil
}

// concatArgs evaluates the arguments of concat and date_trunc; literal ones stay nil (read from the node).
func (ev *evaluator) concatArgs(n *Node) ([]arrow.Array, error) {
	out := make([]arrow.Array, len(n.args))
	for i, a := range n.args {
		if a.kind == kLit {
			continue
		}
		arrs, err := ev.arrays([]*Node{a})
		if err != nil {
			for _, x := range out {
				if x != nil {
					x.Release()
				}
			}
			return nil, err
		}
		out[i] = arrs[0]
	}
	return out, nil
}

func (ev *evaluator) modulo(n *Node) (compute.Datum, error) {
	as, err := ev.arrays(n.args)
	if err != nil {
		return nil, err
	}
	defer releaseAll(as)
	out := moduloKernel(ev.mem, as[0], as[1])
	defer out.Release()
	return compute.NewDatum(out), nil
}

// toText formats numbers, booleans, dates and timestamps as text with the package's own kernel: arrow-go's cast
// to string (v18.8.0) leaks a buffer per call.
func (ev *evaluator) toText(d compute.Datum, from arrow.DataType) (compute.Datum, error) {
	var to arrow.DataType
	switch {
	case isInt(from) && from.ID() != arrow.INT64:
		to = dtInt64
	case isFloat(from) && from.ID() != arrow.FLOAT64, isDecimal(from):
		to = dtFloat
	case from.ID() == arrow.DATE64:
		to = dtTS
	}
	if to != nil {
		c, err := compute.CastDatum(ev.ctx, d, compute.SafeCastOptions(to))
		if err != nil {
			return nil, fmt.Errorf("formatting %s as text: %w", typeName(from), err)
		}
		d = c
	} else {
		d = compute.NewDatum(d) // a second reference, so that array may release it
	}
	arr, err := ev.array(d)
	if err != nil {
		return nil, err
	}
	defer arr.Release()
	out, err := textKernel(ev.mem, arr)
	if err != nil {
		return nil, err
	}
	defer out.Release()
	return compute.NewDatum(out), nil
}
