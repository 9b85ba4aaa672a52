package transformers

import (
	"context"
	"encoding/json"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

func isJSON(dt arrow.DataType) bool {
	_, ok := dt.(*extensions.JSONType)
	return ok
}

// jsonCastable says whether cast converts between from and to when either is the json type: json is its
// text, so it converts to and from strings (and on from there as strings do).
func jsonCastable(from, to arrow.DataType) bool {
	if isJSON(from) && isJSON(to) {
		return true
	}
	if isJSON(from) {
		return castable(from.(arrow.ExtensionType).StorageType(), to)
	}
	return isString(from)
}

// castJSON converts to and from the json extension type: from json, its text goes on as a string; to json, the
// text is checked to be one JSON value (the Parquet JSON annotation promises it), and one that is not fails the
// batch when safe, else becomes null.
func (c *caster) castJSON(ctx context.Context, name string, col arrow.Array, spec castSpec) (arrow.Array, error) {
	if isJSON(col.DataType()) {
		return c.cast(ctx, name, col.(array.ExtensionArray).Storage(), castSpec{to: spec.to})
	}
	to := spec.to.(arrow.ExtensionType)
	b := array.NewStringBuilder(c.mem)
	defer b.Release()
	b.Reserve(col.Len())
	err := eachString(col, func(i int, s string, null bool) error {
		if null {
			b.AppendNull()
			return nil
		}
		if !json.Valid([]byte(s)) {
			return c.parseFailure(name, i, s, to, "not a JSON value", b.AppendNull)
		}
		b.Append(s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	storage := b.NewArray()
	defer storage.Release()
	return array.NewExtensionArrayWithStorage(to, storage), nil
}

// jsonText is col's text when col is a json column (for the transformers that read JSON text), col itself
// otherwise; retained either way.
func jsonText(col arrow.Array) arrow.Array {
	if isJSON(col.DataType()) {
		col = col.(array.ExtensionArray).Storage()
	}
	col.Retain()
	return col
}
