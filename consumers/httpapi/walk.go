package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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
}

// recordSink receives each record of a page with the decoder positioned before the record's first token.
type recordSink interface {
	record(dec *json.Decoder) error
}

// walker reads one JSON body token by token: it streams the array at records to a sink and keeps the scalars
// at the capture paths, skipping everything else without building values.
type walker struct {
	records  []string
	captures [][]string
}

func newWalker(records string, captures []string) *walker {
	w := &walker{records: splitPath(records)}
	for _, c := range captures {
		w.captures = append(w.captures, splitPath(c))
	}
	return w
}

// walk decodes one body. The error says what was wrong with the JSON; the caller adds the URL and page.
func (w *walker) walk(r io.Reader, sink recordSink) (pageResult, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	res := pageResult{captures: make([]string, len(w.captures))}
	if err := w.value(dec, nil, sink, &res); err != nil {
		return res, err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return res, errors.New("unexpected data after the JSON value")
		}
		return res, err
	}
	return res, nil
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
func (w *walker) value(dec *json.Decoder, path []string, sink recordSink, res *pageResult) error {
	if equalPath(path, w.records) {
		return w.recordArray(dec, sink, res)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	for i, c := range w.captures {
		if c != nil && equalPath(path, c) {
			switch v := tok.(type) {
			case string:
				res.captures[i] = v
			case json.Number:
				res.captures[i] = v.String()
			case bool:
				res.captures[i] = fmt.Sprint(v)
			case json.Delim:
				return fmt.Errorf("%s is an %s, want a string or a number", strings.Join(c, "."), delimKind(v))
			}
			return nil
		}
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if d != '{' || !w.leadsSomewhere(path) {
		return skipRest(dec, d)
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		if err := w.value(dec, append(path[:len(path):len(path)], key), sink, res); err != nil {
			return err
		}
	}
	_, err = dec.Token() // '}'
	return err
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
	return false
}

func (w *walker) recordArray(dec *json.Decoder, sink recordSink, res *pageResult) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		res.foundRecord = true
		return nil
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("the records at %q are %s, want an array", strings.Join(w.records, "."), tokenKind(tok))
	}
	res.foundRecord = true
	for dec.More() {
		if err := sink.record(dec); err != nil {
			return fmt.Errorf("record %d: %w", res.records, err)
		}
		res.records++
	}
	_, err = dec.Token() // ']'
	return err
}

// skipRest skips the rest of a compound value whose opening delimiter d was just read.
func skipRest(dec *json.Decoder, d json.Delim) error {
	if d != '{' && d != '[' {
		return nil
	}
	depth := 1
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if dd, ok := tok.(json.Delim); ok {
			if dd == '{' || dd == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

// rawRest writes the compact JSON text of a compound value whose opening delimiter d was just read.
func rawRest(dec *json.Decoder, d json.Delim, buf *bytes.Buffer) error {
	buf.WriteByte(byte(d))
	depth := 1
	needComma := false
	inObject := []bool{d == '{'}
	isKey := d == '{'
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if dd, ok := tok.(json.Delim); ok && (dd == '}' || dd == ']') {
			buf.WriteByte(byte(dd))
			depth--
			inObject = inObject[:len(inObject)-1]
			needComma = true
			isKey = len(inObject) > 0 && inObject[len(inObject)-1]
			continue
		}
		if needComma {
			buf.WriteByte(',')
		}
		switch v := tok.(type) {
		case json.Delim:
			buf.WriteByte(byte(v))
			depth++
			inObject = append(inObject, v == '{')
			needComma = false
			isKey = v == '{'
			continue
		case string:
			b, _ := json.Marshal(v)
			buf.Write(b)
		case json.Number:
			buf.WriteString(v.String())
		case bool:
			fmt.Fprint(buf, v)
		case nil:
			buf.WriteString("null")
		}
		if isKey {
			buf.WriteByte(':')
			needComma = false
			isKey = false
		} else {
			needComma = true
			isKey = len(inObject) > 0 && inObject[len(inObject)-1]
		}
	}
	return nil
}

func delimKind(d json.Delim) string {
	if d == '{' {
		return "object"
	}
	return "array"
}

func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return "an " + delimKind(v)
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}
