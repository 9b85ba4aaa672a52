package httpapi

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/jsonarrow"
)

// splitPath turns "data.items" into ["data", "items"]; "" is the body itself.
func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

// pageResult is what a walk learns about one page besides its records.
type pageResult struct {
	records     int
	foundRecord bool     // the records path was present (an array or null)
	captures    []string // scalar text at each capture path; "" when absent or null
	raw         [][]byte // JSON text at each raw path; nil when absent (valid until the next walk)
}

// recordSink receives each record of a page with the scanner positioned before the record's first byte.
type recordSink interface {
	record(s *scanner) error
}

// walker reads JSON bodies: it streams the array at records to a sink and keeps the scalars at the capture
// paths, skipping everything else without building values. One walker serves the pages of one Read, reusing
// its scanner's buffer.
type walker struct {
	records  []string
	captures [][]string // nil entries are unused
	raws     [][]string // paths whose whole value is kept as JSON text (parent fields)
	rawBufs  [][]byte
	sc       scanner
	path     []string
}

func newWalker(records string, captures, raws []string) *walker {
	w := &walker{records: splitPath(records)}
	for _, c := range captures {
		w.captures = append(w.captures, splitPath(c))
	}
	for _, r := range raws {
		w.raws = append(w.raws, splitPath(r))
	}
	w.rawBufs = make([][]byte, len(raws))
	return w
}

// walk decodes one body. The error says what was wrong with the JSON; the caller adds the URL and page.
func (w *walker) walk(r io.Reader, sink recordSink) (pageResult, error) {
	w.sc.reset(r)
	res := pageResult{captures: make([]string, len(w.captures)), raw: make([][]byte, len(w.raws))}
	if _, err := w.sc.peek(); err == io.EOF {
		return res, errors.New("the body is empty")
	}
	if err := w.value(w.path[:0], sink, &res); err != nil {
		return res, err
	}
	return res, w.sc.finish()
}

func hasPrefix(path, prefix []string) bool {
	if len(prefix) > len(path) {
		return false
	}
	for i := range prefix {
		if path[i] != prefix[i] {
			return false
		}
	}
	return true
}

func equalPath(a, b []string) bool { return len(a) == len(b) && hasPrefix(a, b) }

// value walks the value at path.
func (w *walker) value(path []string, sink recordSink, res *pageResult) error {
	s := &w.sc
	if equalPath(path, w.records) {
		return w.recordArray(sink, res)
	}
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	for i, rp := range w.raws {
		if equalPath(path, rp) {
			buf := w.rawBufs[i][:0]
			err := s.skip(&buf, 0)
			w.rawBufs[i], res.raw[i] = buf, buf
			return err
		}
	}
	for i, cp := range w.captures {
		if cp == nil || !equalPath(path, cp) {
			continue
		}
		switch {
		case c == '"':
			b, err := s.str()
			if err != nil {
				return err
			}
			res.captures[i] = string(b)
		case c == '-' || c >= '0' && c <= '9':
			b, err := s.number()
			if err != nil {
				return err
			}
			res.captures[i] = string(b)
		case c == '{' || c == '[':
			return fmt.Errorf("%s is %s, want a string or a number", strings.Join(cp, "."), kindAt(c))
		default:
			return s.skip(nil, 0) // null (no value), or a boolean
		}
		return nil
	}
	if c != '{' || !w.leadsSomewhere(path) {
		return s.skip(nil, 0)
	}
	s.pos++
	first := true
	for {
		more, err := s.more('}', &first)
		if err != nil || !more {
			return err
		}
		k, err := s.key()
		if err != nil {
			return err
		}
		if err := w.value(append(path, string(k)), sink, res); err != nil {
			return err
		}
	}
}

func (w *walker) leadsSomewhere(path []string) bool {
	if hasPrefix(w.records, path) {
		return true
	}
	for _, c := range w.captures {
		if c != nil && hasPrefix(c, path) {
			return true
		}
	}
	for _, r := range w.raws {
		if hasPrefix(r, path) {
			return true
		}
	}
	return false
}

func (w *walker) recordArray(sink recordSink, res *pageResult) error {
	s := &w.sc
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	if c == 'n' {
		res.foundRecord = true
		return s.skip(nil, 0)
	}
	if c != '[' {
		if kindAt(c) == notAValue {
			return s.errorf("invalid character %s looking for the beginning of a value", quoteChar(c))
		}
		return fmt.Errorf("the records at %q are %s, want an array", strings.Join(w.records, "."), kindAt(c))
	}
	s.pos++
	res.foundRecord = true
	first := true
	for {
		more, err := s.more(']', &first)
		if err != nil || !more {
			return err
		}
		if err := sink.record(s); err != nil {
			return fmt.Errorf("record %d: %w", res.records, err)
		}
		res.records++
	}
}

// kindAt names the kind of JSON value that starts with c.
func kindAt(c byte) string {
	if k := jsonarrow.KindAt(c); k != "" {
		return k
	}
	return notAValue
}

const notAValue = "not a JSON value"
