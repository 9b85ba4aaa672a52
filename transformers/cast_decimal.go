package transformers

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// smallRescale tells whether a decimal128 → decimal128 cast can run on int64 values: both precisions ≤ 18 and
// a scale difference a power of ten in int64 range. Arrow's own kernel divides through math/big, ~700 ns a value.
func smallRescale(from, to arrow.DataType) bool {
	f, ok1 := from.(*arrow.Decimal128Type)
	t, ok2 := to.(*arrow.Decimal128Type)
	if !ok1 || !ok2 || f.Precision > 18 || t.Precision > 18 {
		return false
	}
	d := f.Scale - t.Scale
	return d > -19 && d < 19
}

var pow10i64 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// rescaleDecimals casts a decimal128 column of precision ≤ 18 to another such type with integer arithmetic,
// truncating toward zero as Arrow does. Safe mode fails on a lost digit or an overflow, naming the row and value;
// unsafe mode truncates and turns overflows into nulls.
func (c *caster) rescaleDecimals(name string, col *array.Decimal128, to *arrow.Decimal128Type) (arrow.Array, error) {
	from := col.DataType().(*arrow.Decimal128Type)
	n := col.Len()
	limit := pow10i64[to.Precision]
	diff := from.Scale - to.Scale
	valid := validityOf(col)
	b := array.NewDecimal128Builder(c.mem, to)
	defer b.Release()
	b.Reserve(n)
	vals := col.Values()
	for i := range n {
		if valid.null(i) {
			b.AppendNull()
			continue
		}
		v := int64(vals[i].LowBits()) // |v| < 10^18: the low word holds it in two's complement
		var q int64
		var reason error
		switch {
		case diff > 0:
			d := pow10i64[diff]
			q = v / d
			if v%d != 0 {
				reason = errLostDigits
			}
		case diff < 0:
			m := pow10i64[-diff]
			if v > limit/m || v < -limit/m {
				reason = errOverflow
			}
			q = v * m
		default:
			q = v
		}
		if reason == nil && (q >= limit || q <= -limit) {
			reason = errOverflow
		}
		switch {
		case reason == nil || (!c.safe && errors.Is(reason, errLostDigits)):
			b.Append(decimal128.FromI64(q))
		case c.safe:
			one := array.NewSlice(col, int64(i), int64(i+1))
			defer one.Release()
			return nil, castError(name, i, one, to, reason)
		default:
			b.AppendNull()
		}
	}
	return b.NewArray(), nil
}

var (
	errLostDigits = errors.New("digits past the target scale would be lost")
	errOverflow   = fmt.Errorf("the value has more digits than the target precision")
)
