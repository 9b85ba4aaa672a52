package transformers

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

// MaskConfig is the `mask` transformer's YAML config.
type MaskConfig struct {
	Columns   []string `yaml:"columns" required:"true" doc:"The string columns to mask. Nulls stay null."`
	With      string   `yaml:"with" default:"*" doc:"The character that replaces each hidden character."`
	KeepFirst int      `yaml:"keep_first" min:"0" doc:"How many characters to leave visible at the start."`
	KeepLast  int      `yaml:"keep_last" min:"0" doc:"How many characters to leave visible at the end (4 shows the end of a card number)."`
	Length    int      `yaml:"length" min:"0" doc:"When above 0, every masked value gets exactly this many mask characters between the kept ends, so the value's length is hidden too."`
}

func init() {
	stage.RegisterTransformer("mask", "Replaces the characters of string columns by a mask character, optionally keeping some at either end visible. Characters are counted as Unicode code points.",
		func(bc stage.BuildContext, c *MaskConfig) (stage.Transformer, error) {
			if err := noDuplicates(c.Columns, "columns"); err != nil {
				return nil, err
			}
			if utf8.RuneCountInString(c.With) != 1 {
				return nil, stage.FieldErrorf("with", "want exactly one character, got %q", c.With)
			}
			mem := bc.Alloc
			return &columnMap{
				mem: mem, names: c.Columns, paths: indexedPaths("columns", len(c.Columns)),
				outField: func(i int, f arrow.Field) (arrow.Field, error) {
					vt := valueType(f.Type)
					if vt.ID() != arrow.STRING && vt.ID() != arrow.LARGE_STRING {
						return arrow.Field{}, stage.FieldErrorf(fmt.Sprintf("columns[%d]", i), "column %q is %s; mask takes string columns (use hash for other types)", f.Name, f.Type)
					}
					return arrow.Field{Type: vt, Nullable: f.Nullable}, nil
				},
				apply: func(ctx context.Context, _ int, _ string, col arrow.Array) (arrow.Array, error) {
					return perDictionaryValue(ctx, col, func(a arrow.Array) (arrow.Array, error) {
						return maskArray(mem, a, c)
					})
				},
			}, nil
		})
}

func maskArray(mem memory.Allocator, a arrow.Array, c *MaskConfig) (arrow.Array, error) {
	b := array.NewBuilder(mem, a.DataType())
	defer b.Release()
	var bb *array.BinaryBuilder
	switch b := b.(type) {
	case *array.StringBuilder:
		bb = b.BinaryBuilder
	case *array.LargeStringBuilder:
		bb = b.BinaryBuilder
	default:
		return nil, fmt.Errorf("mask: cannot mask values of type %s", a.DataType())
	}
	bb.Reserve(a.Len())
	switch a := a.(type) {
	case *array.String:
		bb.ReserveData(len(a.ValueBytes()))
		maskOffsets(bb, a, a.ValueOffsets(), a.ValueBytes(), c)
	case *array.LargeString:
		bb.ReserveData(len(a.ValueBytes()))
		maskOffsets(bb, a, a.ValueOffsets(), a.ValueBytes(), c)
	}
	return b.NewArray(), nil
}

func maskOffsets[O int32 | int64](bb *array.BinaryBuilder, a arrow.Array, offs []O, data []byte, c *MaskConfig) {
	base := O(0)
	if len(offs) > 0 {
		base = offs[0]
	}
	with := []byte(c.With)
	var out []byte // reused for every value
	valid := validityOf(a)
	for i := range a.Len() {
		if valid.null(i) {
			bb.AppendNull()
			continue
		}
		v := data[offs[i]-base : offs[i+1]-base]
		n := utf8.RuneCount(v)
		first := min(c.KeepFirst, n)
		last := min(c.KeepLast, n-first)
		hidden := n - first - last
		if c.Length > 0 {
			hidden = c.Length
		}
		// Byte positions of the kept prefix and suffix.
		pre := 0
		for range first {
			_, size := utf8.DecodeRune(v[pre:])
			pre += size
		}
		suf := len(v)
		for range last {
			_, size := utf8.DecodeLastRune(v[:suf])
			suf -= size
		}
		out = append(out[:0], v[:pre]...)
		for range hidden {
			out = append(out, with...)
		}
		out = append(out, v[suf:]...)
		bb.Append(out)
	}
}
