package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

var scannerDocs = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `12`, `-3.25e+10`, `1E-2`, `"x"`,
	`{"a": [1, 2.5, "s", true, false, null, {"b": {}}], "c": "d"}`,
	` { "esc" : "q\"b\\s\/n\n\r\t\b\f" , "u": "\u00e9\u4e2d\ud83d\ude00" } `,
	`"lone \ud83d high"`, `"lone \ude00 low"`, `"pair then letter \ud83d\u0041"`,
	"\"invalid utf8 \xff\xfe\"", `"é 中 😀"`,
	`[[[[[[[[[[1]]]]]]]]]]`,
	// Invalid ones:
	`{"a": 1,}`, `[1 2]`, `{"a" 1}`, `{1: 2}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `tru`, `nul`, `"abc`, `"\x"`,
	`"\u12g4"`, "\"ctl \x01\"", `[1,]`, `{"a": 1} x`, `[`, `{"a":`, ``, `   `,
}

// scanAll skips one document through the scanner, collecting its compact text.
func scanAll(r io.Reader) ([]byte, error) {
	var s scanner
	s.reset(r)
	if _, err := s.peek(); err == io.EOF {
		return nil, errors.New("empty")
	}
	var dst []byte
	if err := s.skip(&dst, 0); err != nil {
		return nil, err
	}
	return dst, s.finish()
}

// checkScan compares the scanner with encoding/json on one document: the same verdict on validity, and the same
// value once re-read.
func checkScan(t *testing.T, doc string) {
	for name, r := range map[string]io.Reader{"whole": strings.NewReader(doc), "one byte at a time": iotest.OneByteReader(strings.NewReader(doc))} {
		got, err := scanAll(r)
		valid := json.Valid([]byte(doc))
		if valid != (err == nil) {
			t.Errorf("%s: %q: scanner error %v, but encoding/json says valid=%v", name, doc, err, valid)
			continue
		}
		if !valid {
			continue
		}
		var want, back any
		_ = json.Unmarshal([]byte(doc), &want)
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%s: %q: the scanner's text %q is not JSON: %v", name, doc, got, err)
			continue
		}
		if !reflect.DeepEqual(want, back) {
			t.Errorf("%s: %q: scanner read %#v, encoding/json %#v", name, doc, back, want)
		}
	}
}

func TestScannerAgainstEncodingJSON(t *testing.T) {
	for _, doc := range scannerDocs {
		checkScan(t, doc)
	}
}

func FuzzScanner(f *testing.F) {
	for _, doc := range scannerDocs {
		f.Add(doc)
	}
	f.Fuzz(checkScan)
}

func TestScannerStringAcrossRefills(t *testing.T) {
	// A string longer than the buffer, with escapes at the boundary, read in pieces.
	long := strings.Repeat("abc\\n", scanBufSize/4) + "\\u00e9"
	doc := `{"data": [{"s": "` + long + `"}]}`
	var want struct{ Data []struct{ S string } }
	if err := json.Unmarshal([]byte(doc), &want); err != nil {
		t.Fatal(err)
	}
	w := newWalker("data", nil, nil)
	var got []string
	sink := sinkFunc(func(s *scanner) error {
		if err := s.expect('{'); err != nil {
			return err
		}
		k, err := s.key()
		if err != nil || string(k) != "s" {
			return errors.New("want key s")
		}
		if _, err := s.peekValue(); err != nil {
			return err
		}
		b, err := s.str()
		got = append(got, string(b))
		if err != nil {
			return err
		}
		return s.expect('}')
	})
	if _, err := w.walk(iotest.HalfReader(bytes.NewReader([]byte(doc))), sink); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != want.Data[0].S {
		t.Errorf("read a string of %d bytes, want %d", len(got[0]), len(want.Data[0].S))
	}
}

type sinkFunc func(s *scanner) error

func (f sinkFunc) record(s *scanner) error { return f(s) }
