package pipelines

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a problem in a pipeline file, at a position a user can jump to.
type Error struct {
	File string
	Line int // 1-based; 0 when unknown
	Col  int // 1-based; 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	default:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// YAMLSyntaxError is err, yaml.v3's error parsing file, as an Error at its line. yaml.v3 leaves the line out of an
// error on the first line (its line 0), and gives no column.
func YAMLSyntaxError(file string, err error) *Error {
	e := &Error{File: file, Line: 1, Msg: "YAML syntax: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "YAML syntax: " + m[2]
	}
	return e
}

// ErrorList is every problem found, sorted by file, line and column; it prints one error a line.
type ErrorList []*Error

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders the list by file, line and column, keeping the order of errors at the same position.
func (l ErrorList) Sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// Err returns the sorted list as an error, or nil when it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}

// errorSink collects the errors of one file.
type errorSink struct {
	file string
	list ErrorList
	// quiet holds the scalars left unexpanded for want of a variable outside the strict keys (Options.Strict):
	// errors at them are muted, as they are about ${VAR} text rather than a value.
	quiet map[*yaml.Node]bool
	// origin holds the nodes inherited from another file (the project file, jetflow.yaml) → that file: an error
	// at one of them points there.
	origin map[*yaml.Node]string
}

// fileOf is the file a node was written in.
func (s *errorSink) fileOf(n *yaml.Node) string {
	if f, ok := s.origin[n]; ok {
		return f
	}
	return s.file
}

// atPos records an error at a line and column of the file n was written in.
func (s *errorSink) atPos(n *yaml.Node, line, col int, format string, args ...any) {
	s.list = append(s.list, &Error{File: s.fileOf(n), Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (s *errorSink) at(n *yaml.Node, format string, args ...any) {
	if n != nil && s.quiet[n] {
		return
	}
	e := &Error{File: s.fileOf(n), Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	s.list = append(s.list, e)
}

// Unique sorts the list and drops the repeats of an error: pipelines that inherit one value from their project
// file each report its mistake, at the same place.
func (l ErrorList) Unique() ErrorList {
	l.Sort()
	return slices.CompactFunc(l, func(a, b *Error) bool { return *a == *b })
}
