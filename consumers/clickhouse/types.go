package clickhouse

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// chType is a parsed ClickHouse type: Array(Nullable(String)) is {name: Array, args: [Nullable(String)]}.
type chType struct {
	text string
	name string
	args []string
}

// parseType splits a type into its name and top-level arguments, respecting parentheses and quoted strings.
func parseType(s string) (chType, error) {
	s = strings.TrimSpace(s)
	t := chType{text: s}
	open := strings.IndexByte(s, '(')
	if open < 0 {
		t.name = s
		return t, nil
	}
	if !strings.HasSuffix(s, ")") {
		return t, fmt.Errorf("type %q: unbalanced parentheses", s)
	}
	t.name = strings.TrimSpace(s[:open])
	args, err := splitArgs(s[open+1 : len(s)-1])
	if err != nil {
		return t, fmt.Errorf("type %q: %w", s, err)
	}
	t.args = args
	return t, nil
}

// splitArgs splits a,b(c,d),'e,f' at top-level commas.
func splitArgs(s string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '`', '"':
			j, err := skipQuoted(s, i)
			if err != nil {
				return nil, err
			}
			i = j
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced parentheses")
			}
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced parentheses")
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" || len(out) > 0 {
		out = append(out, rest)
	}
	return out, nil
}

// skipQuoted returns the index of the quote closing the quoted text that starts at s[i].
func skipQuoted(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j, nil
		}
	}
	return 0, fmt.Errorf("unterminated quote")
}

// unquote reads a ClickHouse string literal ('...' with backslash escapes and ” for a quote).
func unquote(s string) (string, error) {
	if len(s) < 2 || s[0] != s[len(s)-1] || (s[0] != '\'' && s[0] != '`' && s[0] != '"') {
		return "", fmt.Errorf("%s is not a quoted string", s)
	}
	q := s[0]
	body := s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\\' && i+1 < len(body):
			i++
			switch body[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			default:
				b.WriteByte(body[i])
			}
		case c == q && i+1 < len(body) && body[i+1] == q:
			b.WriteByte(q)
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// enumValues parses Enum8('a' = 1, 'b' = -2) arguments.
func enumValues(args []string) (names []string, values []int, err error) {
	for _, a := range args {
		eq := strings.LastIndexByte(a, '=')
		if eq < 0 {
			return nil, nil, fmt.Errorf("enum value %q: want 'name' = number", a)
		}
		name, err := unquote(strings.TrimSpace(a[:eq]))
		if err != nil {
			return nil, nil, fmt.Errorf("enum value %q: %w", a, err)
		}
		v, err := strconv.Atoi(strings.TrimSpace(a[eq+1:]))
		if err != nil {
			return nil, nil, fmt.Errorf("enum value %q: %w", a, err)
		}
		names = append(names, name)
		values = append(values, v)
	}
	return names, values, nil
}

// tupleElement splits a named tuple element ("a UInt8", "`a b` String") into its name and type; name is "" for
// an unnamed element.
func tupleElement(arg string) (name, typ string, err error) {
	if strings.HasPrefix(arg, "`") || strings.HasPrefix(arg, "\"") {
		end, err := skipQuoted(arg, 0)
		if err != nil {
			return "", "", err
		}
		name, err = unquote(arg[:end+1])
		return name, strings.TrimSpace(arg[end+1:]), err
	}
	sp := strings.IndexFunc(arg, unicode.IsSpace)
	paren := strings.IndexByte(arg, '(')
	if sp > 0 && (paren < 0 || sp < paren) {
		return arg[:sp], strings.TrimSpace(arg[sp:]), nil
	}
	return "", arg, nil
}
