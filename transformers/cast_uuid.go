package transformers

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/google/uuid"
)

// uuidCastable says whether cast converts between from and to when either is the uuid type: text, bytes and
// the 16-byte storage.
func uuidCastable(from, to arrow.DataType) bool {
	other := to
	if isUUID(to) {
		other = from
	}
	switch other.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		return true
	}
	return arrow.TypeEqual(other, uuidStorage) || isUUID(other)
}

// uuidStorage is what the uuid extension type stores: the 16 bytes in RFC 4122 order.
var uuidStorage = &arrow.FixedSizeBinaryType{ByteWidth: 16}

func isUUID(dt arrow.DataType) bool {
	_, ok := dt.(*extensions.UUIDType)
	return ok
}

// castUUID converts to and from the uuid extension type. Arrow's cast kernels treat the type as its 16 bytes
// (a cast to string fails on them as invalid UTF-8), so strings are written and parsed in the canonical
// 8-4-4-4-12 form here; other types go through the 16-byte storage.
func (c *caster) castUUID(ctx context.Context, name string, col arrow.Array, spec castSpec) (arrow.Array, error) {
	from := col.DataType()
	switch {
	case isUUID(from) && isString(spec.to):
		return c.formatUUIDs(col.(*extensions.UUIDArray), spec.to)
	case isUUID(from) && (spec.to.ID() == arrow.BINARY || spec.to.ID() == arrow.LARGE_BINARY):
		// arrow-go v18.8.0's fixed_size_binary-to-binary cast leaks a buffer, so the bytes are copied here.
		return c.uuidBytes(col.(*extensions.UUIDArray), spec.to)
	case isUUID(from):
		return c.cast(ctx, name, col.(array.ExtensionArray).Storage(), castSpec{to: spec.to})
	case isString(from):
		return c.parseUUIDs(name, col, spec.to.(arrow.ExtensionType))
	}
	storage, err := c.cast(ctx, name, col, castSpec{to: uuidStorage})
	if err != nil {
		return nil, err
	}
	defer storage.Release()
	return array.NewExtensionArrayWithStorage(spec.to.(arrow.ExtensionType), storage), nil
}

func (c *caster) formatUUIDs(col *extensions.UUIDArray, to arrow.DataType) (arrow.Array, error) {
	b := array.NewBuilder(c.mem, to)
	defer b.Release()
	b.Reserve(col.Len())
	valid := validityOf(col)
	var buf [36]byte
	for i := range col.Len() {
		if valid.null(i) {
			b.AppendNull()
			continue
		}
		u := col.Value(i)
		encodeUUID(buf[:], u)
		switch b := b.(type) {
		case *array.StringBuilder:
			b.BinaryBuilder.Append(buf[:])
		case *array.LargeStringBuilder:
			b.BinaryBuilder.Append(buf[:])
		}
	}
	return b.NewArray(), nil
}

func (c *caster) uuidBytes(col *extensions.UUIDArray, to arrow.DataType) (arrow.Array, error) {
	b := array.NewBuilder(c.mem, to).(*array.BinaryBuilder)
	defer b.Release()
	b.Reserve(col.Len())
	b.ReserveData(16 * col.Len())
	valid := validityOf(col)
	for i := range col.Len() {
		if valid.null(i) {
			b.AppendNull()
			continue
		}
		u := col.Value(i)
		b.Append(u[:])
	}
	return b.NewArray(), nil
}

// encodeUUID writes u's canonical lower-case text into dst (36 bytes) without allocating.
func encodeUUID(dst []byte, u uuid.UUID) {
	const hex = "0123456789abcdef"
	j := 0
	for i, v := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j], dst[j+1] = hex[v>>4], hex[v&0x0f]
		j += 2
	}
}

// parseUUIDs reads text UUIDs (the canonical form, with or without braces or a urn:uuid: prefix, as
// github.com/google/uuid accepts). A value that does not parse fails the batch when safe, else becomes null.
func (c *caster) parseUUIDs(name string, col arrow.Array, to arrow.ExtensionType) (arrow.Array, error) {
	b := extensions.NewUUIDBuilder(c.mem)
	defer b.Release()
	b.Reserve(col.Len())
	err := eachString(col, func(i int, s string, null bool) error {
		if null {
			b.AppendNull()
			return nil
		}
		u, err := uuid.Parse(s)
		if err != nil {
			return c.parseFailure(name, i, s, to, "not a UUID such as 01234567-89ab-cdef-0123-456789abcdef", b.AppendNull)
		}
		b.Append(u)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b.NewArray(), nil
}
