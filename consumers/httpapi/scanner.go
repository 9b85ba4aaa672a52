package httpapi

import (
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/jetflow-dev/jetflow/internal/jsonarrow"
)

// scanner is a streaming JSON reader over a fixed buffer that refills from its reader. It hands out strings and
// numbers as byte slices into its buffer (or its scratch space when a value straddles a refill or has escapes),
// valid until the next call, so that decoding into Arrow builders allocates nothing per value. It holds at most
// one buffer of the body at a time.
//
// encoding/json's Decoder.Token was the first design: it boxes every token in an interface and allocates every
// string and number, which made it slower than decoding into maps (see BenchmarkDecode).
type scanner struct {
	r       io.Reader
	buf     []byte
	pos     int
	end     int
	base    int64 // body offset of buf[0]
	rerr    error // the reader's error, returned once buf is drained
	scratch []byte
}

const (
	scanBufSize = 64 << 10
	maxDepth    = 1000 // nesting deeper than this is refused rather than recursed into
)

// syntaxError is a body that is not valid JSON.
type syntaxError struct {
	msg    string
	offset int64
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.offset) }

func (s *scanner) reset(r io.Reader) {
	if s.buf == nil {
		s.buf = make([]byte, scanBufSize)
	}
	s.r, s.pos, s.end, s.base, s.rerr = r, 0, 0, 0, nil
}

func (s *scanner) errorf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), offset: s.base + int64(s.pos)}
}

// fill reads more input after everything in buf was consumed; it returns io.ErrUnexpectedEOF at a clean end
// (callers only fill in the middle of a value) and the reader's error otherwise.
func (s *scanner) fill() error {
	s.base += int64(s.end)
	s.pos, s.end = 0, 0
	for s.end == 0 {
		if s.rerr != nil {
			if s.rerr == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return s.rerr
		}
		var n int
		n, s.rerr = s.r.Read(s.buf)
		s.end = n
	}
	return nil
}

// peek skips whitespace and returns the next byte without consuming it; io.EOF at a clean end of input.
func (s *scanner) peek() (byte, error) {
	for {
		for s.pos < s.end {
			c := s.buf[s.pos]
			if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
				return c, nil
			}
			s.pos++
		}
		if err := s.fill(); err != nil {
			if err == io.ErrUnexpectedEOF {
				return 0, io.EOF
			}
			return 0, err
		}
	}
}

// peekValue is peek inside a value, where the end of input means truncation.
func (s *scanner) peekValue() (byte, error) {
	c, err := s.peek()
	if err == io.EOF {
		return 0, io.ErrUnexpectedEOF
	}
	return c, err
}

// next consumes and returns one byte (no whitespace skipping).
func (s *scanner) next() (byte, error) {
	if s.pos >= s.end {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	c := s.buf[s.pos]
	s.pos++
	return c, nil
}

// expect consumes c after optional whitespace.
func (s *scanner) expect(c byte) error {
	got, err := s.peekValue()
	if err != nil {
		return err
	}
	if got != c {
		return s.errorf("invalid character %s, want %q", quoteChar(got), c)
	}
	s.pos++
	return nil
}

// more is the loop condition of an object or array whose opening byte was consumed: it consumes the closing
// byte and returns false, or consumes the comma between members and returns true. first is the loop's state.
func (s *scanner) more(closing byte, first *bool) (bool, error) {
	c, err := s.peekValue()
	if err != nil {
		return false, err
	}
	if c == closing {
		s.pos++
		return false, nil
	}
	if *first {
		*first = false
		return true, nil
	}
	if c != ',' {
		return false, s.errorf("invalid character %s after a member, want ',' or %q", quoteChar(c), closing)
	}
	s.pos++
	return true, nil
}

// key reads an object key and its colon; the key is valid until the next call.
func (s *scanner) key() ([]byte, error) {
	c, err := s.peekValue()
	if err != nil {
		return nil, err
	}
	if c != '"' {
		return nil, s.errorf("invalid character %s, want an object key string", quoteChar(c))
	}
	k, err := s.str()
	if err != nil {
		return nil, err
	}
	if err := s.expect(':'); err != nil {
		return nil, err
	}
	return k, nil
}

// str reads a string at '"' and returns its unescaped bytes, valid until the next call.
func (s *scanner) str() ([]byte, error) {
	s.pos++ // '"'
	start := s.pos
	s.scratch = s.scratch[:0]
	inScratch, high := false, false
	for {
		if s.pos >= s.end {
			s.scratch = append(s.scratch, s.buf[start:s.pos]...)
			inScratch = true
			if err := s.fill(); err != nil {
				return nil, err
			}
			start = s.pos
			continue
		}
		c := s.buf[s.pos]
		switch {
		case c == '"':
			var b []byte
			if inScratch {
				s.scratch = append(s.scratch, s.buf[start:s.pos]...)
				b = s.scratch
			} else {
				b = s.buf[start:s.pos]
			}
			s.pos++
			if high && !utf8.Valid(b) {
				// As encoding/json does: invalid UTF-8 becomes U+FFFD, since Arrow strings must be valid UTF-8.
				s.scratch = []byte(string([]rune(string(b))))
				b = s.scratch
			}
			return b, nil
		case c == '\\':
			s.scratch = append(s.scratch, s.buf[start:s.pos]...)
			inScratch = true
			s.pos++
			if err := s.escape(); err != nil {
				return nil, err
			}
			start = s.pos
		case c < 0x20:
			return nil, s.errorf("invalid control character %s in a string", quoteChar(c))
		default:
			if c >= utf8.RuneSelf {
				high = true
			}
			s.pos++
		}
	}
}

// escape decodes the escape after a backslash into scratch.
func (s *scanner) escape() error {
	c, err := s.next()
	if err != nil {
		return err
	}
	switch c {
	case '"', '\\', '/':
		s.scratch = append(s.scratch, c)
	case 'b':
		s.scratch = append(s.scratch, '\b')
	case 'f':
		s.scratch = append(s.scratch, '\f')
	case 'n':
		s.scratch = append(s.scratch, '\n')
	case 'r':
		s.scratch = append(s.scratch, '\r')
	case 't':
		s.scratch = append(s.scratch, '\t')
	case 'u':
		r, err := s.hex4()
		if err != nil {
			return err
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			// A pair is \uD83D\uDE00; a lone surrogate becomes U+FFFD.
			if s.pos+1 < s.end && s.buf[s.pos] == '\\' && s.buf[s.pos+1] == 'u' || s.pos+1 >= s.end && s.peekPair() {
				s.pos += 2
				r2, err := s.hex4()
				if err != nil {
					return err
				}
				if r2 >= 0xDC00 && r2 < 0xE000 {
					r = utf16.DecodeRune(r, r2)
				} else {
					s.scratch = utf8.AppendRune(s.scratch, utf8.RuneError)
					r = r2
				}
			} else {
				r = utf8.RuneError
			}
		case utf16.IsSurrogate(r):
			r = utf8.RuneError
		}
		s.scratch = utf8.AppendRune(s.scratch, r)
	default:
		s.pos--
		return s.errorf("invalid escape \\%c in a string", c)
	}
	return nil
}

// peekPair tells whether `\u` follows when it straddles the buffer's end (rare): it compacts the buffer so that
// both bytes are in it.
func (s *scanner) peekPair() bool {
	rest := copy(s.buf, s.buf[s.pos:s.end])
	s.base += int64(s.pos)
	s.pos, s.end = 0, rest
	for s.end < 2 && s.rerr == nil {
		var n int
		n, s.rerr = s.r.Read(s.buf[s.end:])
		s.end += n
	}
	return s.end >= 2 && s.buf[0] == '\\' && s.buf[1] == 'u'
}

func (s *scanner) hex4() (rune, error) {
	var r rune
	for range 4 {
		c, err := s.next()
		if err != nil {
			return 0, err
		}
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			s.pos--
			return 0, s.errorf("invalid character %s in a \\u escape", quoteChar(c))
		}
		r = r<<4 | rune(c)
	}
	return r, nil
}

// number reads a number and returns its text, valid until the next call, after checking its grammar.
func (s *scanner) number() ([]byte, error) {
	start := s.pos
	s.scratch = s.scratch[:0]
	inScratch := false
	for {
		if s.pos >= s.end {
			s.scratch = append(s.scratch, s.buf[start:s.pos]...)
			inScratch = true
			err := s.fill()
			start = s.pos
			if err != nil {
				if err != io.ErrUnexpectedEOF {
					return nil, err
				}
				break // a number may end the input
			}
			continue
		}
		c := s.buf[s.pos]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.pos++
			continue
		}
		break
	}
	var b []byte
	if inScratch {
		s.scratch = append(s.scratch, s.buf[start:s.pos]...)
		b = s.scratch
	} else {
		b = s.buf[start:s.pos]
	}
	if !validNumber(b) {
		return nil, s.errorf("invalid number %q", b)
	}
	return b, nil
}

// validNumber checks the JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(b)
}

// literal consumes true, false or null at the current byte and reports which: 't', 'f' or 'n'.
func (s *scanner) literal() (byte, error) {
	c := s.buf[s.pos]
	var word string
	switch c {
	case 't':
		word = "true"
	case 'f':
		word = "false"
	default:
		word = "null"
	}
	for i := 0; i < len(word); i++ {
		got, err := s.next()
		if err != nil {
			return 0, err
		}
		if got != word[i] {
			s.pos--
			return 0, s.errorf("invalid character %s in literal %s", quoteChar(got), word)
		}
	}
	return c, nil
}

// skip consumes one value. With dst, it also appends the value's compact JSON text to *dst.
func (s *scanner) skip(dst *[]byte, depth int) error {
	if depth > maxDepth {
		return s.errorf("JSON nested more than %d levels deep", maxDepth)
	}
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	switch {
	case c == '{' || c == '[':
		s.pos++
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		if dst != nil {
			*dst = append(*dst, c)
		}
		first := true
		for n := 0; ; n++ {
			more, err := s.more(closing, &first)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			if dst != nil && n > 0 {
				*dst = append(*dst, ',')
			}
			if c == '{' {
				k, err := s.key()
				if err != nil {
					return err
				}
				if dst != nil {
					*dst = strconv.AppendQuote(*dst, jsonarrow.Bstr(k))
					*dst = append(*dst, ':')
				}
			}
			if err := s.skip(dst, depth+1); err != nil {
				return err
			}
		}
		if dst != nil {
			*dst = append(*dst, closing)
		}
		return nil
	case c == '"':
		b, err := s.str()
		if err != nil {
			return err
		}
		if dst != nil {
			*dst = appendJSONString(*dst, b)
		}
		return nil
	case c == 't' || c == 'f' || c == 'n':
		k, err := s.literal()
		if err != nil {
			return err
		}
		if dst != nil {
			switch k {
			case 't':
				*dst = append(*dst, "true"...)
			case 'f':
				*dst = append(*dst, "false"...)
			default:
				*dst = append(*dst, "null"...)
			}
		}
		return nil
	case c == '-' || c >= '0' && c <= '9':
		b, err := s.number()
		if err != nil {
			return err
		}
		if dst != nil {
			*dst = append(*dst, b...)
		}
		return nil
	}
	return s.errorf("invalid character %s looking for the beginning of a value", quoteChar(c))
}

// appendJSONString appends b as a JSON string.
func appendJSONString(dst, b []byte) []byte {
	dst = append(dst, '"')
	for _, r := range string(b) {
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r < 0x20:
			dst = fmt.Appendf(dst, `\u%04x`, r)
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}

// end checks that nothing but whitespace follows the body's value.
func (s *scanner) finish() error {
	c, err := s.peek()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	return s.errorf("invalid character %s after the JSON value", quoteChar(c))
}

func quoteChar(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("%#02x", c)
	}
	return "'" + string(rune(c)) + "'"
}
