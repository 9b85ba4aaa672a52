package transformers

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/jetflow-dev/jetflow/internal/hashcol"
	"github.com/jetflow-dev/jetflow/stage"
)

// HashConfig is the `hash` transformer's YAML config.
type HashConfig struct {
	Columns   []string     `yaml:"columns" required:"true" doc:"The columns to replace by their hash: string, binary or integer columns. sha256 hashes an integer as its decimal text (42 as \"42\"); xxhash64 and xxh3 hash it as its 8 bytes, little-endian, widened to 64 bits (as Spark does for a long, and as the expression function xxhash64 does). Nulls stay null."`
	Algorithm string       `yaml:"algorithm" default:"sha256" enum:"sha256,xxhash64,xxh3" doc:"sha256: a string of 64 lowercase hex digits, for PII that must not be reversible by brute force (with a salt). xxhash64: an int64 (the 64 bits of XXH64, seed 0, as Spark's xxhash64 returns them), fast, for ids and bucketing; not a protection for PII. xxh3: an int64 (the 64 bits of XXH3, seed 0), the fastest, for ids and bucketing where Spark compatibility does not matter; not a protection for PII."`
	Salt      stage.Secret `yaml:"salt" doc:"Bytes put before each value before hashing, so that hashes cannot be matched against a table of hashed common values. Keep it secret (${VAR}); changing it changes every hash."`
}

func init() {
	stage.RegisterTransformer("hash", "Replaces columns by a hash of each value (sha256 as hex text, or xxhash64 or xxh3 as int64), under the same names, for PII and for stable ids.",
		func(bc stage.BuildContext, c *HashConfig) (stage.Transformer, error) {
			if err := noDuplicates(c.Columns, "columns"); err != nil {
				return nil, err
			}
			h, err := hashcol.New(c.Algorithm, []byte(c.Salt.Reveal()))
			if err != nil {
				return nil, stage.FieldErrorf("algorithm", "%w", err)
			}
			out := h.OutputType()
			return &columnMap{
				mem: bc.Alloc, names: c.Columns, paths: indexedPaths("columns", len(c.Columns)),
				outField: func(i int, f arrow.Field) (arrow.Field, error) {
					if !hashcol.Hashable(valueType(f.Type)) {
						return arrow.Field{}, stage.FieldErrorf(fmt.Sprintf("columns[%d]", i), "column %q is %s; hash takes string, binary or integer columns: cast it to string first", f.Name, f.Type)
					}
					return arrow.Field{Type: out, Nullable: f.Nullable}, nil
				},
				apply: func(ctx context.Context, _ int, _ string, col arrow.Array) (arrow.Array, error) {
					return perDictionaryValue(ctx, col, func(a arrow.Array) (arrow.Array, error) {
						return h.Array(bc.Alloc, a)
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
