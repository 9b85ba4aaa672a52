package kjson

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/jetflow-dev/jetflow/internal/jsonarrow"
)

// maxDepth bounds the nesting of a message, so a hostile message cannot exhaust the stack.
const maxDepth = 64

// jscan reads one JSON message held whole in memory. It works on the message's bytes directly (a Kafka value is
// already in memory), so strings without escapes are returned as sub-slices with no copy.
type jscan struct {
	b       []byte
	pos     int
	scratch []byte // unescaped strings, reused
}

type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.offset) }

func (s *jscan) reset(b []byte) { s.b, s.pos = b, 0 }

func (s *jscan) errorf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), offset: s.pos}
}

func (s *jscan) ws() {
	// One comparison for the usual case, a value right where it should be.
	for s.pos < len(s.b) && s.b[s.pos] <= ' ' {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// strStop marks the bytes that end str's fast scan: the closing quote, a backslash, control characters (an error)
// and the bytes of multi-byte UTF-8 (checked once the string ends). A table lookup per byte instead of four tests.
var strStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for c := 0x80; c < 256; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

const (
	lsb8 = 0x0101010101010101
	msb8 = 0x8080808080808080
)

// stopMask sets the high bit of each byte of w (little-endian) that strStop marks: a quote, a backslash, a control
// character or a byte of multi-byte UTF-8. A borrow can also mark bytes after the first marked one, never before
// it, so the lowest set bit is exact.
func stopMask(w uint64) uint64 {
	q := w ^ ('"' * lsb8)
	e := w ^ ('\\' * lsb8)
	return ((q-lsb8)&^q | (e-lsb8)&^e | (w - 0x20*lsb8) | w) & msb8
}

// peek skips white space and returns the next byte without taking it.
func (s *jscan) peek() (byte, error) {
	s.ws()
	if s.pos >= len(s.b) {
		return 0, s.errorf("unexpected end of JSON")
	}
	return s.b[s.pos], nil
}

// more reads the separator before the next member of an object or array; it returns false at the closing byte.
func (s *jscan) more(closing byte, first *bool) (bool, error) {
	c, err := s.peek()
	if err != nil {
		return false, err
	}
	if c == closing {
		s.pos++
		return false, nil
	}
	if !*first {
		if c != ',' {
			return false, s.errorf("want , or %c, got %s", closing, quoteChar(c))
		}
		s.pos++
		if c, err = s.peek(); err != nil {
			return false, err
		}
		if c == closing {
			return false, s.errorf("trailing comma")
		}
	}
	*first = false
	return true, nil
}

// next reads what follows a member of an object or array: true at a comma, the next member then at s.pos (after
// white space); false after the closing byte, or with an error saying what was wanted.
func (s *jscan) next(closing byte) (bool, error) {
	b := s.b
	pos := skipWS(b, s.pos)
	comma := pos < len(b) && b[pos] == ','
	if comma {
		if pos = skipWS(b, pos+1); pos >= len(b) || b[pos] != closing {
			s.pos = pos
			return true, nil
		}
	}
	return false, s.closeAt(pos, closing, comma)
}

// closeAt reads the end of an object or array at pos, where a member ended without a comma after it, or (comma)
// where a comma was followed by the closing byte: nil after the closing byte, else an error saying what was
// wanted.
func (s *jscan) closeAt(pos int, closing byte, comma bool) error {
	s.pos = pos
	switch {
	case comma:
		return s.errorf("trailing comma")
	case pos < len(s.b) && s.b[pos] == closing:
		s.pos++
		return nil
	}
	first := false
	if _, err := s.more(closing, &first); err != nil {
		return err
	}
	return s.errorf("want , or %c", closing)
}

// key reads an object key and its colon.
func (s *jscan) key() ([]byte, error) {
	c, err := s.peek()
	if err != nil {
		return nil, err
	}
	if c != '"' {
		return nil, s.errorf("want an object key, got %s", quoteChar(c))
	}
	k, err := s.str()
	if err != nil {
		return nil, err
	}
	if c, err = s.peek(); err != nil {
		return nil, err
	}
	if c != ':' {
		return nil, s.errorf("want : after an object key, got %s", quoteChar(c))
	}
	s.pos++
	return k, nil
}

var errInvalidUTF8 = errors.New("invalid UTF-8")

// str reads a string at '"' and returns its unescaped bytes, valid UTF-8. The result aliases the message or the
// scratch buffer: it is valid until the next call.
func (s *jscan) str() ([]byte, error) {
	start := s.pos + 1
	i := start
	ascii := true
	b := s.b
	for {
		// Eight bytes at a time while they hold no stop byte, then the table for the rest.
		for i+8 <= len(b) {
			if m := stopMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto stop
			}
			i += 8
		}
		for i < len(b) && !strStop[b[i]] {
			i++
		}
	stop:
		if i >= len(b) {
			s.pos = i
			return nil, s.errorf("unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			out := b[start:i]
			s.pos = i + 1
			if !ascii && !utf8.Valid(out) {
				s.pos = start
				return nil, errInvalidUTF8
			}
			return out, nil
		case c == '\\':
			return s.strEscaped(start, i)
		case c < 0x20:
			s.pos = i
			return nil, s.errorf("control character in a string")
		default: // a byte of multi-byte UTF-8
			ascii = false
			i++
		}
	}
}

// strEscaped is str's slow path from the first backslash at i.
func (s *jscan) strEscaped(start, i int) ([]byte, error) {
	out := append(s.scratch[:0], s.b[start:i]...)
	for i < len(s.b) {
		c := s.b[i]
		switch {
		case c == '"':
			s.pos = i + 1
			s.scratch = out
			if !utf8.Valid(out) {
				s.pos = start
				return nil, errInvalidUTF8
			}
			return out, nil
		case c < 0x20:
			s.pos = i
			return nil, s.errorf("control character in a string")
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(s.b) {
			break
		}
		e := s.b[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s.b, i)
			if !ok {
				s.pos = i
				return nil, s.errorf("bad \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+6 <= len(s.b) && s.b[i] == '\\' && s.b[i+1] == 'u' {
					r2, ok = hex4(s.b, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					s.pos = i
					return nil, errInvalidUTF8 // a lone surrogate has no UTF-8 form
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			s.pos = i - 1
			return nil, s.errorf("bad escape \\%c", e)
		}
	}
	s.pos = len(s.b)
	return nil, s.errorf("unterminated string")
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// number reads a JSON number and returns its text.
func (s *jscan) number() ([]byte, error) {
	start := s.pos
	i := s.pos
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	digits := i
	for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
		i++
	}
	if i == digits || s.b[digits] == '0' && i-digits > 1 {
		s.pos = start
		return nil, s.errorf("malformed number")
	}
	if i < len(s.b) && s.b[i] == '.' {
		i++
		d := i
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
		}
		if i == d {
			s.pos = start
			return nil, s.errorf("malformed number")
		}
	}
	if i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		i++
		if i < len(s.b) && (s.b[i] == '+' || s.b[i] == '-') {
			i++
		}
		d := i
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
		}
		if i == d {
			s.pos = start
			return nil, s.errorf("malformed number")
		}
	}
	s.pos = i
	return s.b[start:i], nil
}

// literal reads true, false or null and returns its first byte.
func (s *jscan) literal() (byte, error) {
	c := s.b[s.pos]
	var word string
	switch c {
	case 't':
		word = "true"
	case 'f':
		word = "false"
	case 'n':
		word = "null"
	default:
		return 0, s.errorf("unexpected %s", quoteChar(c))
	}
	if len(s.b)-s.pos < len(word) || string(s.b[s.pos:s.pos+len(word)]) != word {
		return 0, s.errorf("unexpected %s", quoteChar(c))
	}
	s.pos += len(word)
	return c, nil
}

// skip reads any value, checking its syntax; with dst it appends the value's compact text.
func (s *jscan) skip(dst *[]byte, depth int) error {
	if depth > maxDepth {
		return s.errorf("JSON nested more than %d levels deep", maxDepth)
	}
	c, err := s.peek()
	if err != nil {
		return err
	}
	start := s.pos
	switch {
	case c == '"':
		if _, err := s.str(); err != nil {
			return err
		}
	case c == '-' || c >= '0' && c <= '9':
		if _, err := s.number(); err != nil {
			return err
		}
	case c == '{':
		s.pos++
		first := true
		for {
			more, err := s.more('}', &first)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			if _, err := s.key(); err != nil {
				return err
			}
			if err := s.skip(nil, depth+1); err != nil {
				return err
			}
		}
	case c == '[':
		s.pos++
		first := true
		for {
			more, err := s.more(']', &first)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			if err := s.skip(nil, depth+1); err != nil {
				return err
			}
		}
	default:
		if _, err := s.literal(); err != nil {
			return err
		}
	}
	if dst != nil {
		*dst = append(*dst, s.b[start:s.pos]...)
	}
	return nil
}

func kindAt(c byte) string {
	if k := jsonarrow.KindAt(c); k != "" {
		return k
	}
	return quoteChar(c)
}

func quoteChar(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}
