package httpapi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/stage"
)

// checkPagination validates the endpoint's pagination and sets its capture paths.
func (ep *endpoint) checkPagination() []error {
	var errs []error
	pg, at := ep.pg, ep.prefix+"pagination."
	fail := func(key, format string, args ...any) { errs = append(errs, stage.FieldErrorf(at+key, format, args...)) }
	switch pg.Type {
	case "none", "page", "link_header":
	case "offset":
		if pg.Limit <= 0 {
			fail("limit", "offset pagination needs limit, the number of records per page")
		}
	case "cursor":
		if pg.CursorPath == "" {
			fail("cursor_path", "cursor pagination needs cursor_path, the dotted path of the next cursor in the body")
		}
	case "next_url":
		if pg.NextURLPath == "" {
			fail("next_url_path", "next_url pagination needs next_url_path, the dotted path of the next URL in the body")
		}
	}
	ep.captures = []string{pg.CursorPath, pg.NextURLPath, pg.TotalPath}
	for i, p := range ep.captures {
		if p != "" && overlapsRecords(p, ep.records) {
			fail([]string{"cursor_path", "next_url_path", "total_path"}[i],
				"%q overlaps records %q; it must name a scalar outside the records", p, ep.records)
		}
	}
	return errs
}

// overlapsRecords tells whether path is the records, inside them or around them.
func overlapsRecords(path, records string) bool {
	return records == "" || path == records || strings.HasPrefix(records+".", path+".") || strings.HasPrefix(path, records+".")
}

// parseType parses a column type that httpapi can decode.
func parseType(s string) (arrow.DataType, error) {
	dt, err := arrowtype.Parse(s)
	if err != nil {
		return nil, err
	}
	return dt, checkType(dt)
}

// parseColumns checks declared columns at path.
func parseColumns(path string, cols []Column) ([]arrow.Field, []error) {
	var errs []error
	names := map[string]int{}
	var fields []arrow.Field
	for i, col := range cols {
		at := fmt.Sprintf("%s[%d]", path, i)
		if j, dup := names[col.Name]; dup {
			errs = append(errs, stage.FieldErrorf(at+".name", "column %q is already declared at %s[%d]", col.Name, path, j))
			continue
		}
		names[col.Name] = i
		dt, err := parseType(col.Type)
		if err != nil {
			errs = append(errs, &stage.FieldError{Path: at + ".type", Err: err})
			continue
		}
		fields = append(fields, arrow.Field{Name: col.Name, Type: dt, Nullable: true})
	}
	return fields, errs
}

// parentRec is what a child request needs of one parent record.
type parentRec struct {
	scalars map[string]string // top-level scalar fields as text, for the child's templates
	carry   [][]byte          // JSON text of each carried field; nil when absent
}

// parentSink collects the parent records of one page. It allocates per parent, which costs nothing next to the
// request each parent makes.
type parentSink struct {
	carry []string // carried field names
	recs  []parentRec
}

func (ps *parentSink) record(s *scanner) error {
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	if c != '{' {
		return fmt.Errorf("a parent record is %s, want an object", kindAt(c))
	}
	s.pos++
	rec := parentRec{scalars: map[string]string{}, carry: make([][]byte, len(ps.carry))}
	first := true
	for {
		more, err := s.more('}', &first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		k, err := s.key()
		if err != nil {
			return err
		}
		key := string(k)
		var raw []byte
		if err := s.skip(&raw, 1); err != nil {
			return err
		}
		for i, name := range ps.carry {
			if name == key {
				rec.carry[i] = raw
			}
		}
		if text, ok := scalarText(raw); ok {
			rec.scalars[key] = text
		}
	}
	ps.recs = append(ps.recs, rec)
	return nil
}

// scalarText is a scalar's text for a template: a string unquoted, a number or boolean as written; ok is false
// for null, objects and arrays.
func scalarText(raw []byte) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '{', '[', 'n':
		return "", false
	case '"':
		var s scanner
		s.buf, s.end = raw, len(raw)
		s.rerr = errors.New("end")
		b, err := s.str()
		if err != nil {
			return "", false
		}
		return string(b), true
	}
	return string(raw), true
}

func carryFields(fo *Fanout) []string {
	names := make([]string, len(fo.Carry))
	for i, c := range fo.Carry {
		names[i] = c.Field
	}
	return names
}
