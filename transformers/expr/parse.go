// Package expr is jetflow's small SQL-like expression language and the `filter` and `derive` transformers built
// on it. An expression is parsed once, type-checked against the input Arrow schema (so `jetflow validate` finds
// type errors without data), and evaluated once per batch over whole arrays: Arrow compute kernels where
// arrow-go has them, typed loops over the arrays' buffers where it does not. Nothing is evaluated row by row
// through an interface.
package expr

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/jetflow-dev/jetflow/internal/suggest"
)

// Error is a parse or type error at a position of an expression. Line and Col are 1-based and count inside the
// expression's text (the YAML value), so a multi-line value reports the line within it.
type Error struct {
	Expr      string
	Offset    int // byte offset in Expr
	Line, Col int
	Msg       string
	Hint      string // "did you mean lower?"; may be empty
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s at %d:%d", e.Msg, e.Line, e.Col)
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// ValueOffset and Detail make an Error a stage.ValueError, so that a pipeline file's error points at the
// character of the expression rather than at the start of its YAML value.
func (e *Error) ValueOffset() int { return e.Offset }

// Detail is the message without its position inside the expression.
func (e *Error) Detail() string {
	if e.Hint != "" {
		return e.Msg + "; " + e.Hint
	}
	return e.Msg
}

func errAt(src string, off int, hint string, format string, args ...any) *Error {
	off = min(max(off, 0), len(src))
	line, col := 1, 1
	for i := 0; i < off; i++ {
		if src[i] == '\n' {
			line, col = line+1, 1
		} else if src[i]&0xC0 != 0x80 { // count characters, not UTF-8 continuation bytes
			col++
		}
	}
	return &Error{Expr: src, Offset: off, Line: line, Col: col, Msg: fmt.Sprintf(format, args...), Hint: hint}
}

type nodeKind uint8

const (
	kLit    nodeKind = iota
	kCol             // column reference
	kUnary           // - not
	kBinary          // + - * / % = != < <= > >= and or
	kIsNull          // x is [not] null
	kIn              // x [not] in (literals)
	kCall            // function call
	kCase            // case when c then v ... [else e] end
	kCast            // implicit cast inserted by the checker
)

// Node is one node of a parsed expression. The checker fills typ and may wrap operands in kCast nodes.
type Node struct {
	kind    nodeKind
	pos     int    // byte offset of the token that names the node (operator, function, column, literal)
	op      string // operator or lower-case function name
	name    string // column name
	lit     any    // nil (null), bool, int64, float64, string, time.Time
	args    []*Node
	hasElse bool // kCase: the last arg is the else value
	not     bool // kIsNull, kIn: negated

	typ    arrow.DataType // result type, set by the checker
	col    int            // kCol: column index
	decode bool           // kCol: dictionary column, decoded to its value type
	fn     *function      // kCall
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tQuoted // "column name"
	tString // 'text'
	tInt
	tFloat
	tOp // operators and punctuation
)

type token struct {
	kind tokKind
	pos  int
	text string // identifier as written (keywords compared lower-case), unquoted string, number text, operator
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tString:
		return strconv.Quote("'" + t.text + "'")
	case tQuoted:
		return strconv.Quote(`"` + t.text + `"`)
	}
	return strconv.Quote(t.text)
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '_' || c|0x20 >= 'a' && c|0x20 <= 'z':
			j := i + 1
			for j < len(src) && (src[j] == '_' || src[j]|0x20 >= 'a' && src[j]|0x20 <= 'z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, token{tIdent, i, src[i:j]})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j, float := i, false
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == '_') {
				float = float || src[j] == '.'
				j++
			}
			if j < len(src) && src[j]|0x20 == 'e' {
				k := j + 1
				if k < len(src) && (src[k] == '+' || src[k] == '-') {
					k++
				}
				if k < len(src) && src[k] >= '0' && src[k] <= '9' {
					for k < len(src) && src[k] >= '0' && src[k] <= '9' {
						k++
					}
					j, float = k, true
				}
			}
			kind := tInt
			if float {
				kind = tFloat
			}
			toks = append(toks, token{kind, i, src[i:j]})
			i = j
		case c == '\'' || c == '"':
			var sb strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					what := "string"
					if c == '"' {
						what = "quoted column name"
					}
					return nil, errAt(src, i, "", "unterminated %s", what)
				}
				if src[j] == c {
					if j+1 < len(src) && src[j+1] == c { // doubled quote escapes itself, as in SQL
						sb.WriteByte(c)
						j += 2
						continue
					}
					break
				}
				sb.WriteByte(src[j])
				j++
			}
			kind := tString
			if c == '"' {
				kind = tQuoted
			}
			toks = append(toks, token{kind, i, sb.String()})
			i = j + 1
		default:
			op := ""
			for _, o := range []string{"<=", ">=", "<>", "!=", "==", "||", "+", "-", "*", "/", "%", "=", "<", ">", "(", ")", ","} {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				r := []rune(src[i:])[0]
				return nil, errAt(src, i, "", "unexpected character %q", r)
			}
			toks = append(toks, token{tOp, i, op})
			i += len(op)
		}
	}
	return append(toks, token{tEOF, len(src), ""}), nil
}

// Parse parses an expression. Errors are *Error with the position of the offending token.
func Parse(src string) (*Node, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, errAt(src, t.pos, "", "unexpected %s after a complete expression", t.describe())
	}
	return n, nil
}

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

// maxDepth bounds nesting so that a hostile or broken value cannot exhaust the stack.
const maxDepth = 200

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i = min(p.i+1, len(p.toks)-1); return t }

func (p *parser) isKw(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) acceptKw(kw string) bool {
	if p.isKw(kw) {
		p.next()
		return true
	}
	return false
}

func (p *parser) isOp(op string) bool { t := p.peek(); return t.kind == tOp && t.text == op }

func (p *parser) expectOp(op, context string) error {
	if p.isOp(op) {
		p.next()
		return nil
	}
	t := p.peek()
	return errAt(p.src, t.pos, "", "expected %q %s, got %s", op, context, t.describe())
}

func (p *parser) expectKw(kw, context string) error {
	if p.acceptKw(kw) {
		return nil
	}
	t := p.peek()
	return errAt(p.src, t.pos, "", "expected %s %s, got %s", strings.ToUpper(kw), context, t.describe())
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return errAt(p.src, p.peek().pos, "", "expression nested too deeply (more than %d levels)", maxDepth)
	}
	return nil
}

func (p *parser) expr() (*Node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	return p.or()
}

func (p *parser) or() (*Node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isKw("or") {
		t := p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &Node{kind: kBinary, pos: t.pos, op: "or", args: []*Node{l, r}}
	}
	return l, nil
}

func (p *parser) and() (*Node, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.isKw("and") {
		t := p.next()
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = &Node{kind: kBinary, pos: t.pos, op: "and", args: []*Node{l, r}}
	}
	return l, nil
}

func (p *parser) not() (*Node, error) {
	if p.isKw("not") {
		t := p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		x, err := p.not()
		p.depth--
		if err != nil {
			return nil, err
		}
		return &Node{kind: kUnary, pos: t.pos, op: "not", args: []*Node{x}}, nil
	}
	return p.comparison()
}

var compareOps = map[string]string{"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

func (p *parser) comparison() (*Node, error) {
	l, err := p.additive()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if op, ok := compareOps[t.text]; ok && t.kind == tOp {
			p.next()
			r, err := p.additive()
			if err != nil {
				return nil, err
			}
			l = &Node{kind: kBinary, pos: t.pos, op: op, args: []*Node{l, r}}
			continue
		}
		if p.isKw("is") {
			p.next()
			not := p.acceptKw("not")
			if err := p.expectKw("null", "after IS"); err != nil {
				return nil, err
			}
			l = &Node{kind: kIsNull, pos: t.pos, not: not, args: []*Node{l}}
			continue
		}
		not := false
		if p.isKw("not") && p.i+1 < len(p.toks) && p.toks[p.i+1].kind == tIdent && strings.EqualFold(p.toks[p.i+1].text, "in") {
			p.next()
			not = true
		}
		if p.isKw("in") {
			p.next()
			if err := p.expectOp("(", "after IN"); err != nil {
				return nil, err
			}
			n := &Node{kind: kIn, pos: t.pos, not: not, args: []*Node{l}}
			for {
				x, err := p.expr()
				if err != nil {
					return nil, err
				}
				n.args = append(n.args, x)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			if err := p.expectOp(")", "to close the IN list"); err != nil {
				return nil, err
			}
			l = n
			continue
		}
		return l, nil
	}
}

func (p *parser) additive() (*Node, error) {
	l, err := p.multiplicative()
	if err != nil {
		return nil, err
	}
	for p.isOp("+") || p.isOp("-") || p.isOp("||") {
		t := p.next()
		r, err := p.multiplicative()
		if err != nil {
			return nil, err
		}
		if t.text == "||" { // SQL's string concatenation
			l = &Node{kind: kCall, pos: t.pos, op: "concat", args: []*Node{l, r}}
			continue
		}
		l = &Node{kind: kBinary, pos: t.pos, op: t.text, args: []*Node{l, r}}
	}
	return l, nil
}

func (p *parser) multiplicative() (*Node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.isOp("*") || p.isOp("/") || p.isOp("%") {
		t := p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &Node{kind: kBinary, pos: t.pos, op: t.text, args: []*Node{l, r}}
	}
	return l, nil
}

func (p *parser) unary() (*Node, error) {
	if p.isOp("-") || p.isOp("+") {
		t := p.next()
		if n := p.peek(); t.text == "-" && n.kind == tInt && strings.ReplaceAll(n.text, "_", "") == "9223372036854775808" {
			p.next() // the one int64 whose magnitude is out of range
			return &Node{kind: kLit, pos: t.pos, lit: int64(-1 << 63)}, nil
		}
		if err := p.enter(); err != nil {
			return nil, err
		}
		x, err := p.unary()
		p.depth--
		if err != nil {
			return nil, err
		}
		if t.text == "+" {
			return x, nil
		}
		// Fold a negative number literal so that -9223372036854775808 is representable.
		if x.kind == kLit {
			switch v := x.lit.(type) {
			case int64:
				return &Node{kind: kLit, pos: t.pos, lit: -v}, nil
			case float64:
				return &Node{kind: kLit, pos: t.pos, lit: -v}, nil
			}
		}
		return &Node{kind: kUnary, pos: t.pos, op: "-", args: []*Node{x}}, nil
	}
	return p.primary()
}

func (p *parser) primary() (*Node, error) {
	t := p.next()
	switch t.kind {
	case tInt:
		s := strings.ReplaceAll(t.text, "_", "")
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, errAt(p.src, t.pos, "", "integer %s is out of range for int64", t.text)
		}
		return &Node{kind: kLit, pos: t.pos, lit: v}, nil
	case tFloat:
		v, err := strconv.ParseFloat(strings.ReplaceAll(t.text, "_", ""), 64)
		if err != nil {
			return nil, errAt(p.src, t.pos, "", "invalid number %s", t.text)
		}
		return &Node{kind: kLit, pos: t.pos, lit: v}, nil
	case tString:
		return &Node{kind: kLit, pos: t.pos, lit: t.text}, nil
	case tQuoted:
		if t.text == "" {
			return nil, errAt(p.src, t.pos, "", "empty column name")
		}
		return &Node{kind: kCol, pos: t.pos, name: t.text}, nil
	case tOp:
		if t.text == "(" {
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")", "to close the parenthesis"); err != nil {
				return nil, err
			}
			return x, nil
		}
	case tIdent:
		switch strings.ToLower(t.text) {
		case "true", "false":
			return &Node{kind: kLit, pos: t.pos, lit: strings.EqualFold(t.text, "true")}, nil
		case "null":
			return &Node{kind: kLit, pos: t.pos, lit: nil}, nil
		case "case":
			return p.caseExpr(t)
		case "timestamp":
			if s := p.peek(); s.kind == tString {
				p.next()
				ts, err := parseTimestamp(s.text)
				if err != nil {
					return nil, errAt(p.src, s.pos, "", "invalid timestamp %s: want 2006-01-02, 2006-01-02 15:04:05 or RFC 3339 with a zone", s.describe())
				}
				return &Node{kind: kLit, pos: t.pos, lit: ts}, nil
			}
		case "and", "or", "not", "is", "in", "when", "then", "else", "end":
			return nil, errAt(p.src, t.pos, "", "unexpected keyword %s where a value was expected", t.describe())
		}
		if p.isOp("(") {
			p.next()
			n := &Node{kind: kCall, pos: t.pos, op: strings.ToLower(t.text)}
			if !p.isOp(")") {
				for {
					x, err := p.expr()
					if err != nil {
						return nil, err
					}
					n.args = append(n.args, x)
					if !p.isOp(",") {
						break
					}
					p.next()
				}
			}
			if err := p.expectOp(")", "to close the argument list of "+n.op); err != nil {
				return nil, err
			}
			return n, nil
		}
		return &Node{kind: kCol, pos: t.pos, name: t.text}, nil
	}
	if t.kind == tEOF {
		return nil, errAt(p.src, t.pos, "", "unexpected end of expression: a value is missing")
	}
	return nil, errAt(p.src, t.pos, "", "unexpected %s where a value was expected", t.describe())
}

func (p *parser) caseExpr(t token) (*Node, error) {
	n := &Node{kind: kCase, pos: t.pos, op: "case"}
	for p.acceptKw("when") {
		c, err := p.expr()
		if err != nil {
			return nil, err
		}
		if err := p.expectKw("then", "after the WHEN condition"); err != nil {
			return nil, err
		}
		v, err := p.expr()
		if err != nil {
			return nil, err
		}
		n.args = append(n.args, c, v)
	}
	if len(n.args) == 0 {
		return nil, errAt(p.src, p.peek().pos, "", "CASE needs at least one WHEN ... THEN ..., got %s", p.peek().describe())
	}
	if p.acceptKw("else") {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		n.args, n.hasElse = append(n.args, e), true
	}
	if err := p.expectKw("end", "to close CASE"); err != nil {
		return nil, err
	}
	return n, nil
}

var timestampLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04", "2006-01-02"}

// parseTimestamp reads a timestamp literal; one without a zone is UTC.
func parseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	var err error
	for _, l := range timestampLayouts {
		var t time.Time
		if t, err = time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

func didYouMean(word string, candidates []string) string {
	if c, ok := suggest.Closest(word, candidates); ok {
		return "did you mean " + c + "?"
	}
	return ""
}
