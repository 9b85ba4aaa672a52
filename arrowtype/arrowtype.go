// Package arrowtype reads and writes Arrow data types as short text, the form pipeline files use:
// "int64", "decimal(18,4)", "timestamp[us, UTC]", "list<struct<id: int64, name: string>>".
//
// Format writes the canonical text of a type and Parse reads it back to an equal type, so the text can be stored
// in specs, golden files and error messages. Nested children are nullable unless followed by "not null"
// ("list<int64 not null>", "struct<id: int64 not null>"); a map's keys are never null, so that is implied.
package arrowtype

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zone names must validate the same on every host, including minimal containers

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"

	"github.com/jetflow-dev/jetflow/internal/suggest"
)

// SyntaxError reports where a type expression went wrong. Offset is the byte offset in Input (0-based); Error
// shows it as a 1-based column.
type SyntaxError struct {
	Input  string
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid type %q at column %d: %s", e.Input, e.Offset+1, e.Msg)
}

// simple maps the names of parameterless types to their Arrow type. Aliases (Arrow's own spellings) parse but
// are never written by Format.
var simple = map[string]arrow.DataType{
	"bool":         arrow.FixedWidthTypes.Boolean,
	"int8":         arrow.PrimitiveTypes.Int8,
	"int16":        arrow.PrimitiveTypes.Int16,
	"int32":        arrow.PrimitiveTypes.Int32,
	"int64":        arrow.PrimitiveTypes.Int64,
	"uint8":        arrow.PrimitiveTypes.Uint8,
	"uint16":       arrow.PrimitiveTypes.Uint16,
	"uint32":       arrow.PrimitiveTypes.Uint32,
	"uint64":       arrow.PrimitiveTypes.Uint64,
	"float16":      arrow.FixedWidthTypes.Float16,
	"float32":      arrow.PrimitiveTypes.Float32,
	"float64":      arrow.PrimitiveTypes.Float64,
	"string":       arrow.BinaryTypes.String,
	"large_string": arrow.BinaryTypes.LargeString,
	"binary":       arrow.BinaryTypes.Binary,
	"large_binary": arrow.BinaryTypes.LargeBinary,
	"date32":       arrow.FixedWidthTypes.Date32,
	"date64":       arrow.FixedWidthTypes.Date64,
	"null":         arrow.Null,
	// Arrow's own names, accepted so that text copied from Arrow's String() output parses.
	"boolean":    arrow.FixedWidthTypes.Boolean,
	"utf8":       arrow.BinaryTypes.String,
	"large_utf8": arrow.BinaryTypes.LargeString,
}

// hints answers common names from other systems that are not Arrow type names.
var hints = map[string]string{
	"int":         "int32/int64",
	"integer":     "int32/int64",
	"bigint":      "int64",
	"long":        "int64",
	"smallint":    "int16",
	"short":       "int16",
	"tinyint":     "int8",
	"byte":        "int8/uint8",
	"uint":        "uint32/uint64",
	"float":       "float32/float64",
	"double":      "float64",
	"real":        "float32",
	"half":        "float16",
	"text":        "string",
	"varchar":     "string",
	"char":        "string",
	"str":         "string",
	"bytes":       "binary",
	"blob":        "binary",
	"bytea":       "binary",
	"date":        "date32",
	"datetime":    "timestamp[us] or timestamp[us, UTC]",
	"time":        "time64[us]",
	"numeric":     "decimal(precision, scale)",
	"array":       "list<T>",
	"dict":        "dictionary<string, int32>",
	"interval":    "duration[us]",
	"timestamptz": "timestamp[us, UTC]",
}

// paramForms says how each parameterized type is written, for errors.
var paramForms = map[string]string{
	"fixed_size_binary": "fixed_size_binary(byte_width)",
	"decimal":           "decimal(precision, scale)",
	"decimal128":        "decimal128(precision, scale)",
	"decimal256":        "decimal256(precision, scale)",
	"time32":            "time32[s|ms]",
	"time64":            "time64[us|ns]",
	"timestamp":         "timestamp[s|ms|us|ns] or timestamp[unit, zone]",
	"duration":          "duration[s|ms|us|ns]",
	"list":              "list<T>",
	"large_list":        "large_list<T>",
	"fixed_size_list":   "fixed_size_list<T, size>",
	"struct":            "struct<name: T, ...>",
	"map":               "map<K, V>",
	"dictionary":        "dictionary<value type, index type>",
}

// Parse reads a type expression. Whitespace between tokens is ignored; type names are case-insensitive.
func Parse(s string) (arrow.DataType, error) {
	p := &parser{in: s}
	p.skipSpace()
	if p.pos == len(s) {
		return nil, p.errAt(0, "empty type: want a type such as int64, string, decimal(18,4) or timestamp[us, UTC]")
	}
	dt, err := p.parseType()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(s) {
		return nil, p.errf("unexpected %q after the type %s", s[p.pos:], Format(dt))
	}
	return dt, nil
}

// MustParse is Parse for types written in code; it panics on a bad expression.
func MustParse(s string) arrow.DataType {
	dt, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return dt
}

type parser struct {
	in  string
	pos int
}

func (p *parser) errAt(off int, format string, args ...any) error {
	return &SyntaxError{Input: p.in, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) errf(format string, args ...any) error { return p.errAt(p.pos, format, args...) }

func (p *parser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (p *parser) peek() byte {
	p.skipSpace()
	if p.pos == len(p.in) {
		return 0
	}
	return p.in[p.pos]
}

func (p *parser) accept(c byte) bool {
	if p.peek() == c {
		p.pos++
		return true
	}
	return false
}

func (p *parser) next() string {
	if p.pos >= len(p.in) {
		return "the end"
	}
	return strconv.Quote(p.in[p.pos : p.pos+1])
}

func isIdentStart(c byte) bool { return c == '_' || (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }

func (p *parser) ident() string {
	p.skipSpace()
	start := p.pos
	if p.pos < len(p.in) && isIdentStart(p.in[p.pos]) {
		for p.pos < len(p.in) && isIdentChar(p.in[p.pos]) {
			p.pos++
		}
	}
	return p.in[start:p.pos]
}

func (p *parser) int(what string, form string) (int, error) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
		p.pos++
	}
	if start == p.pos {
		return 0, p.errf("%s: want %s as a number, found %s", form, what, p.next())
	}
	n, err := strconv.Atoi(p.in[start:p.pos])
	if err != nil || n > 1<<31-1 {
		return 0, p.errAt(start, "%s: %s %s is too large", form, what, p.in[start:p.pos])
	}
	return n, nil
}

func (p *parser) expect(c byte, form string) error {
	if !p.accept(c) {
		return p.errf("want %s, found %s", form, p.next())
	}
	return nil
}

func (p *parser) parseType() (arrow.DataType, error) {
	p.skipSpace()
	start := p.pos
	raw := p.ident()
	if raw == "" {
		if p.pos < len(p.in) && (p.in[p.pos] == '`' || p.in[p.pos] == '"') {
			return nil, p.errf("want a type, found a quoted name (field names go inside struct<name: T>)")
		}
		return nil, p.errf("want a type such as int64, string or list<T>, found %s", p.next())
	}
	name := strings.ToLower(raw)
	if dt, ok := simple[name]; ok {
		return dt, nil
	}
	form, param := paramForms[name]
	if !param {
		switch {
		case name == "uuid":
			return extensions.NewUUIDType(), nil
		case name == "json":
			return JSON(), nil
		case hints[name] != "":
			return nil, p.errAt(start, "unknown type %q: did you mean %s?", raw, hints[name])
		}
		if near := nearest(name); near != "" {
			return nil, p.errAt(start, "unknown type %q: did you mean %s?", raw, near)
		}
		return nil, p.errAt(start, "unknown type %q: see the type reference for the names jetflow knows", raw)
	}
	switch name {
	case "fixed_size_binary":
		if err := p.expect('(', form); err != nil {
			return nil, err
		}
		w, err := p.int("the byte width", form)
		if err != nil {
			return nil, err
		}
		if err := p.expect(')', form); err != nil {
			return nil, err
		}
		if w < 1 {
			return nil, p.errAt(start, "%s: the byte width must be at least 1", form)
		}
		return &arrow.FixedSizeBinaryType{ByteWidth: w}, nil

	case "decimal", "decimal128", "decimal256":
		return p.parseDecimal(name, form, start)

	case "time32", "time64", "timestamp", "duration":
		return p.parseTemporal(name, form, start)

	case "list", "large_list", "fixed_size_list":
		if err := p.expect('<', form); err != nil {
			return nil, err
		}
		elem, err := p.parseField("item")
		if err != nil {
			return nil, err
		}
		size := 0
		if name == "fixed_size_list" {
			if !p.accept(',') {
				return nil, p.errf("%s: want \",\" then the list size, found %s", form, p.next())
			}
			at := p.pos
			if size, err = p.int("the list size", form); err != nil {
				return nil, err
			}
			if size < 1 { // Arrow panics on a fixed-size list of no items
				p.pos = at
				p.skipSpace()
				return nil, p.errf("%s: the list size must be at least 1", form)
			}
		}
		if err := p.expect('>', "\">\" closing "+form); err != nil {
			return nil, err
		}
		switch name {
		case "list":
			return arrow.ListOfField(elem), nil
		case "large_list":
			return arrow.LargeListOfField(elem), nil
		default:
			return arrow.FixedSizeListOfField(int32(size), elem), nil
		}

	case "struct":
		return p.parseStruct(form)

	case "map":
		if err := p.expect('<', form); err != nil {
			return nil, err
		}
		p.skipSpace()
		keyAt := p.pos
		key, err := p.parseType()
		if err != nil {
			return nil, err
		}
		if p.peek() == 'n' || p.peek() == 'N' {
			// "not null" on a key is redundant but harmless.
			if _, err := p.notNull(); err != nil {
				return nil, err
			}
		}
		if !p.accept(',') {
			return nil, p.errf("%s: want \",\" then the value type, found %s", form, p.next())
		}
		item, err := p.parseField("value")
		if err != nil {
			return nil, err
		}
		if err := p.expect('>', "\">\" closing "+form); err != nil {
			return nil, err
		}
		if !isHashable(key) {
			return nil, p.errAt(keyAt, "%s: a map key cannot be %s; use a primitive type", form, Format(key))
		}
		return arrow.MapOfFields(arrow.Field{Name: "key", Type: key}, item), nil

	case "dictionary":
		if err := p.expect('<', form); err != nil {
			return nil, err
		}
		val, err := p.parseType()
		if err != nil {
			return nil, err
		}
		if !p.accept(',') {
			return nil, p.errf("%s: want \",\" then the index type (int8, int16, int32 or int64), found %s", form, p.next())
		}
		p.skipSpace()
		idxAt := p.pos
		idx, err := p.parseType()
		if err != nil {
			return nil, err
		}
		ordered := false
		if p.accept(',') {
			p.skipSpace()
			at := p.pos
			if w := strings.ToLower(p.ident()); w != "ordered" {
				return nil, p.errAt(at, "%s: want \"ordered\" or \">\" after the index type, found %q", form, w)
			}
			ordered = true
		}
		if err := p.expect('>', "\">\" closing "+form); err != nil {
			return nil, err
		}
		if !arrow.IsInteger(idx.ID()) {
			return nil, p.errAt(idxAt, "%s: the index type must be an integer type such as int32, not %s", form, Format(idx))
		}
		return &arrow.DictionaryType{IndexType: idx, ValueType: val, Ordered: ordered}, nil
	}
	panic("arrowtype: unhandled form " + name) // unreachable: every paramForms key is handled above
}

func isHashable(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.STRUCT, arrow.MAP, arrow.DICTIONARY, arrow.NULL:
		return false
	}
	return true
}

func (p *parser) parseDecimal(name, form string, start int) (arrow.DataType, error) {
	want := fmt.Sprintf("want %s", form)
	if !p.accept('(') {
		return nil, p.errf("%s: %s", name, want)
	}
	prec, err := p.int("the precision", form)
	if err != nil {
		return nil, err
	}
	if !p.accept(',') {
		if p.peek() == ')' {
			return nil, p.errAt(start, "%s(%d): %s", name, prec, want)
		}
		return nil, p.errf("%s: want \",\" then the scale, found %s", form, p.next())
	}
	scale, err := p.int("the scale", form)
	if err != nil {
		return nil, err
	}
	if err := p.expect(')', "\")\" closing "+form); err != nil {
		return nil, err
	}
	id, maxPrec := arrow.DECIMAL128, 38
	switch {
	case name == "decimal256", name == "decimal" && prec > 38:
		id, maxPrec = arrow.DECIMAL256, 76
	}
	if prec < 1 || prec > maxPrec {
		return nil, p.errAt(start, "%s(%d,%d): the precision must be between 1 and %d", name, prec, scale, maxPrec)
	}
	if scale > prec {
		return nil, p.errAt(start, "%s(%d,%d): the scale must be between 0 and the precision", name, prec, scale)
	}
	dt, err := arrow.NewDecimalType(id, int32(prec), int32(scale))
	if err != nil {
		return nil, p.errAt(start, "%s(%d,%d): %v", name, prec, scale, err)
	}
	return dt, nil
}

var units = map[string]arrow.TimeUnit{"s": arrow.Second, "ms": arrow.Millisecond, "us": arrow.Microsecond, "ns": arrow.Nanosecond}

func (p *parser) parseTemporal(name, form string, start int) (arrow.DataType, error) {
	if !p.accept('[') {
		return nil, p.errAt(start, "%s: want %s", name, form)
	}
	p.skipSpace()
	uAt := p.pos
	u := strings.ToLower(p.ident())
	unit, ok := units[u]
	switch {
	case !ok:
		return nil, p.errAt(uAt, "%s: unknown time unit %q: want s, ms, us or ns", name, u)
	case name == "time32" && unit > arrow.Millisecond:
		return nil, p.errAt(uAt, "time32[%s]: time32 holds s or ms; use time64[%s]", u, u)
	case name == "time64" && unit < arrow.Microsecond:
		return nil, p.errAt(uAt, "time64[%s]: time64 holds us or ns; use time32[%s]", u, u)
	}
	zone := ""
	if name == "timestamp" && p.accept(',') {
		p.skipSpace()
		zAt := p.pos
		var err error
		if zone, err = p.zone(); err != nil {
			return nil, err
		}
		if err := checkZone(zone); err != nil {
			return nil, p.errAt(zAt, "timestamp[%s, %s]: %v", u, zone, err)
		}
	}
	if err := p.expect(']', "\"]\" closing "+form); err != nil {
		return nil, err
	}
	switch name {
	case "time32":
		return &arrow.Time32Type{Unit: unit}, nil
	case "time64":
		return &arrow.Time64Type{Unit: unit}, nil
	case "duration":
		return &arrow.DurationType{Unit: unit}, nil
	}
	return &arrow.TimestampType{Unit: unit, TimeZone: zone}, nil
}

// zone reads a time zone up to the closing bracket; it may be quoted.
func (p *parser) zone() (string, error) {
	if p.pos < len(p.in) && (p.in[p.pos] == '"' || p.in[p.pos] == '`' || p.in[p.pos] == '\'') {
		return p.quoted()
	}
	start := p.pos
	for p.pos < len(p.in) && p.in[p.pos] != ']' {
		p.pos++
	}
	z := strings.TrimSpace(p.in[start:p.pos])
	if z == "" {
		return "", p.errAt(start, "timestamp: want a time zone such as UTC or Europe/Paris after \",\"")
	}
	return z, nil
}

// checkZone accepts IANA names and fixed offsets (+01:00), the two forms Arrow specifies.
func checkZone(z string) error {
	if len(z) == 6 && (z[0] == '+' || z[0] == '-') && z[3] == ':' {
		h, err1 := strconv.Atoi(z[1:3])
		m, err2 := strconv.Atoi(z[4:6])
		if err1 == nil && err2 == nil && h <= 23 && m <= 59 {
			return nil
		}
	}
	if _, err := time.LoadLocation(z); err != nil || z == "" || strings.EqualFold(z, "local") {
		return fmt.Errorf("unknown time zone %q: want an IANA name such as UTC or America/New_York, or an offset such as +01:00", z)
	}
	return nil
}

// quoted reads a name in backticks, double or single quotes; the quote doubled stands for itself.
func (p *parser) quoted() (string, error) {
	q := p.in[p.pos]
	start := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		p.pos++
		if c != q {
			b.WriteByte(c)
			continue
		}
		if p.pos < len(p.in) && p.in[p.pos] == q {
			b.WriteByte(q)
			p.pos++
			continue
		}
		return b.String(), nil
	}
	return "", p.errAt(start, "unclosed %c: a quoted name ends with the same quote (double it to include one)", q)
}

// parseField reads "T" or "T not null" as a child field named name.
func (p *parser) parseField(name string) (arrow.Field, error) {
	dt, err := p.parseType()
	if err != nil {
		return arrow.Field{}, err
	}
	nn, err := p.notNull()
	if err != nil {
		return arrow.Field{}, err
	}
	return arrow.Field{Name: name, Type: dt, Nullable: !nn}, nil
}

// notNull consumes an optional "not null".
func (p *parser) notNull() (bool, error) {
	save := p.pos
	p.skipSpace()
	if w := strings.ToLower(p.ident()); w != "not" {
		p.pos = save
		return false, nil
	}
	p.skipSpace()
	at := p.pos
	if w := strings.ToLower(p.ident()); w != "null" {
		return false, p.errAt(at, "want \"null\" after \"not\"")
	}
	return true, nil
}

func (p *parser) parseStruct(form string) (arrow.DataType, error) {
	if err := p.expect('<', form); err != nil {
		return nil, err
	}
	var fields []arrow.Field
	seen := map[string]bool{}
	if p.accept('>') {
		return arrow.StructOf(), nil
	}
	for {
		p.skipSpace()
		at := p.pos
		var name string
		if p.pos < len(p.in) && (p.in[p.pos] == '`' || p.in[p.pos] == '"') {
			var err error
			if name, err = p.quoted(); err != nil {
				return nil, err
			}
		} else if name = p.ident(); name == "" {
			return nil, p.errf("%s: want a field name, found %s (quote names with other characters in backticks)", form, p.next())
		}
		if seen[name] {
			return nil, p.errAt(at, "%s: field %q appears twice", form, name)
		}
		seen[name] = true
		if !p.accept(':') {
			return nil, p.errf("%s: want \":\" then the type of field %q, found %s", form, name, p.next())
		}
		f, err := p.parseField(name)
		if err != nil {
			return nil, err
		}
		fields = append(fields, f)
		if p.accept('>') {
			return arrow.StructOf(fields...), nil
		}
		if !p.accept(',') {
			return nil, p.errf("%s: want \",\" or \">\" after field %q, found %s", form, name, p.next())
		}
	}
}

// nearest suggests a known name within two edits of name, for typos such as "in64" or "strng".
func nearest(name string) string {
	best, bestD := "", 3
	consider := func(k string) {
		if d := suggest.Distance(name, k); d < bestD || d == bestD && k < best {
			best, bestD = k, d
		}
	}
	for k := range simple {
		consider(k)
	}
	for k := range paramForms {
		consider(k)
	}
	consider("uuid")
	consider("json")
	if best == "" {
		return ""
	}
	if f, ok := paramForms[best]; ok {
		return f
	}
	return best
}

// JSON is the json pipeline type: Arrow's json extension on utf8, which PostgreSQL json and jsonb columns arrive
// as and which the Parquet loader writes with Parquet's JSON logical type.
func JSON() arrow.ExtensionType { return jsonType }

// jsonType is built once: NewJSONType fails only for a storage type other than a string.
var jsonType = func() arrow.ExtensionType {
	t, err := extensions.NewJSONType(arrow.BinaryTypes.String)
	if err != nil {
		panic(err)
	}
	return t
}()
