package httpapi

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/jetflow-dev/jetflow/internal/jsonarrow"
)

// inferrer is a recordSink that merges every record into one inferred struct type.
type inferrer struct {
	root *jsonarrow.Type
	rows int
}

func newInferrer() *inferrer { return &inferrer{root: jsonarrow.NewObject()} }

func (in *inferrer) record(s *scanner) error {
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	if c != '{' {
		return fmt.Errorf("a record is %s, want an object", kindAt(c))
	}
	s.pos++
	in.rows++
	return jsonarrow.MergeObject(s, in.root, 1, maxDepth)
}

// schema is the inferred schema of the records seen.
func (in *inferrer) schema() *arrow.Schema { return arrow.NewSchema(in.root.ArrowFields(), nil) }

// The scanner is read by inference (jsonarrow.Merge) through jsonarrow.Scanner.
var _ jsonarrow.Scanner = (*scanner)(nil)

func (s *scanner) PeekValue() (byte, error)                     { return s.peekValue() }
func (s *scanner) Take()                                        { s.pos++ }
func (s *scanner) Literal() (byte, error)                       { return s.literal() }
func (s *scanner) Str() ([]byte, error)                         { return s.str() }
func (s *scanner) Number() ([]byte, error)                      { return s.number() }
func (s *scanner) More(closing byte, first *bool) (bool, error) { return s.more(closing, first) }
func (s *scanner) Key() ([]byte, error)                         { return s.key() }
func (s *scanner) Skip(dst *[]byte, depth int) error            { return s.skip(dst, depth) }
func (s *scanner) NotAValue(c byte) error {
	return s.errorf("invalid character %s looking for the beginning of a value", quoteChar(c))
}
func (s *scanner) TooDeep() error { return s.errorf("JSON nested more than %d levels deep", maxDepth) }
