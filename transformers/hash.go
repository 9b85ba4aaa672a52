package transformers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cespare/xxhash/v2"

	"github.com/jetflow-dev/jetflow/stage"
)

// HashConfig is the `hash` transformer's YAML config.
type HashConfig struct {
	Columns   []string     `yaml:"columns" required:"true" doc:"The columns to replace by their hash: string, binary or integer columns. sha256 hashes an integer as its decimal text (42 as \"42\"); xxhash64 hashes it as its 8 bytes, little-endian, widened to 64 bits (as Spark does for a long, and as the expression function xxhash64 does). Nulls stay null."`
	Algorithm string       `yaml:"algorithm" default:"sha256" enum:"sha256,xxhash64" doc:"sha256: a string of 64 lowercase hex digits, for PII that must not be reversible by brute force (with a salt). xxhash64: an int64 (the 64 bits of XXH64, seed 0, as Spark's xxhash64 returns them), fast, for ids and bucketing; not a protection for PII."`
	Salt      stage.Secret `yaml:"salt" doc:"Bytes put before each value before hashing, so that hashes cannot be matched against a table of hashed common values. Keep it secret (${VAR}); changing it changes every hash."`
}

func init() {
	stage.RegisterTransformer("hash", "Replaces columns by a hash of each value (sha256 as hex text, or xxhash64 as int64), under the same names, for PII and for stable ids.",
		func(bc stage.BuildContext, c *HashConfig) (stage.Transformer, error) {
			if err := noDuplicates(c.Columns, "columns"); err != nil {
				return nil, err
			}
			h := &hashFunc{algo: c.Algorithm, salt: []byte(c.Salt.Reveal())}
			out := arrow.DataType(arrow.BinaryTypes.String)
			if c.Algorithm == "xxhash64" {
				out = arrow.PrimitiveTypes.Int64
			}
			return &columnMap{
				mem: bc.Alloc, names: c.Columns, paths: indexedPaths("columns", len(c.Columns)),
				outField: func(i int, f arrow.Field) (arrow.Field, error) {
					if !hashable(valueType(f.Type)) {
						return arrow.Field{}, stage.FieldErrorf(fmt.Sprintf("columns[%d]", i), "column %q is %s; hash takes string, binary or integer columns: cast it to string first", f.Name, f.Type)
					}
					return arrow.Field{Type: out, Nullable: f.Nullable}, nil
				},
				apply: func(ctx context.Context, _ int, _ string, col arrow.Array) (arrow.Array, error) {
					return perDictionaryValue(ctx, col, func(a arrow.Array) (arrow.Array, error) {
						return h.hashArray(bc.Alloc, a, out)
					})
				},
			}, nil
		})
}

func indexedPaths(key string, n int) []string {
	p := make([]string, n)
	for i := range p {
		p[i] = fmt.Sprintf("%s[%d]", key, i)
	}
	return p
}

func hashable(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY,
		arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

// hashFunc holds the settings of one hash stage; it is read-only, so batches may be hashed concurrently.
type hashFunc struct {
	algo string
	salt []byte
}

// hashSink appends hashes of values to the output builder; one per batch, reused for every value.
type hashSink struct {
	f       *hashFunc
	scratch []byte // salt followed by the current value
	hexBuf  [2 * sha256.Size]byte
	str     *array.BinaryBuilder // sha256
	ints    *array.Int64Builder  // xxhash64
}

func (s *hashSink) add(v []byte) {
	s.scratch = append(s.scratch[:len(s.f.salt)], v...)
	if s.str != nil {
		sum := sha256.Sum256(s.scratch)
		hex.Encode(s.hexBuf[:], sum[:])
		s.str.Append(s.hexBuf[:])
		return
	}
	s.ints.Append(int64(xxhash.Sum64(s.scratch)))
}

func (s *hashSink) null() {
	if s.str != nil {
		s.str.AppendNull()
	} else {
		s.ints.AppendNull()
	}
}

func (f *hashFunc) hashArray(mem memory.Allocator, a arrow.Array, out arrow.DataType) (arrow.Array, error) {
	b := array.NewBuilder(mem, out)
	defer b.Release()
	s := &hashSink{f: f, scratch: append(make([]byte, 0, len(f.salt)+64), f.salt...)}
	n := a.Len()
	switch b := b.(type) {
	case *array.StringBuilder:
		s.str = b.BinaryBuilder
		s.str.Reserve(n)
		s.str.ReserveData(n * len(s.hexBuf))
	case *array.Int64Builder:
		s.ints = b
		b.Reserve(n)
	}
	switch a := a.(type) {
	case *array.String:
		hashOffsets(s, a, a.ValueOffsets(), a.ValueBytes())
	case *array.LargeString:
		hashOffsets(s, a, a.ValueOffsets(), a.ValueBytes())
	case *array.Binary:
		hashOffsets(s, a, a.ValueOffsets(), a.ValueBytes())
	case *array.LargeBinary:
		hashOffsets(s, a, a.ValueOffsets(), a.ValueBytes())
	case *array.Int8:
		hashInts(s, a, a.Int8Values())
	case *array.Int16:
		hashInts(s, a, a.Int16Values())
	case *array.Int32:
		hashInts(s, a, a.Int32Values())
	case *array.Int64:
		hashInts(s, a, a.Int64Values())
	case *array.Uint8:
		hashUints(s, a, a.Uint8Values())
	case *array.Uint16:
		hashUints(s, a, a.Uint16Values())
	case *array.Uint32:
		hashUints(s, a, a.Uint32Values())
	case *array.Uint64:
		hashUints(s, a, a.Uint64Values())
	default:
		return nil, fmt.Errorf("hash: cannot hash values of type %s", a.DataType())
	}
	return b.NewArray(), nil
}

// hashOffsets hashes the values of a string or binary array given its offsets (already adjusted to the array's
// slice: offs[i] and offs[i+1] bound value i) and its data buffer.
func hashOffsets[O int32 | int64](s *hashSink, a arrow.Array, offs []O, data []byte) {
	// ValueBytes starts at the first value's offset; offsets are absolute.
	base := O(0)
	if len(offs) > 0 {
		base = offs[0]
	}
	valid := validityOf(a)
	for i := range a.Len() {
		if valid.null(i) {
			s.null()
			continue
		}
		s.add(data[offs[i]-base : offs[i+1]-base])
	}
}

func hashInts[T int8 | int16 | int32 | int64](s *hashSink, a arrow.Array, vs []T) {
	var buf [24]byte
	valid := validityOf(a)
	for i, v := range vs {
		if valid.null(i) {
			s.null()
			continue
		}
		if s.str != nil {
			s.add(strconv.AppendInt(buf[:0], int64(v), 10))
		} else {
			s.add(binary.LittleEndian.AppendUint64(buf[:0], uint64(int64(v))))
		}
	}
}

func hashUints[T uint8 | uint16 | uint32 | uint64](s *hashSink, a arrow.Array, vs []T) {
	var buf [24]byte
	valid := validityOf(a)
	for i, v := range vs {
		if valid.null(i) {
			s.null()
			continue
		}
		if s.str != nil {
			s.add(strconv.AppendUint(buf[:0], uint64(v), 10))
		} else {
			s.add(binary.LittleEndian.AppendUint64(buf[:0], uint64(v)))
		}
	}
}
