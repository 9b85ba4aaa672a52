package pipelines

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/stage"
)

var (
	nodePtrType       = reflect.TypeFor[*yaml.Node]()
	stageType         = reflect.TypeFor[Stage]()
	secretType        = reflect.TypeFor[stage.Secret]()
	durationType      = reflect.TypeFor[stage.Duration]()
	byteSizeType      = reflect.TypeFor[stage.ByteSize]()
	textUnmarshalType = reflect.TypeFor[encoding.TextUnmarshaler]()
	textMarshalType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// fieldInfo is one config field with the tags the loader enforces.
type fieldInfo struct {
	index    int
	name     string // Go name
	key      string // yaml key
	doc      string
	def      string
	hasDef   bool
	required bool
	enum     []string
	kind     stage.Kind // for Stage fields: which kind of stage the key holds
	noPrint  bool       // excluded from the fingerprint
	typ      reflect.Type
}

// fieldsOf lists the decodable fields of a struct type, in declaration order.
func fieldsOf(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if key == "-" {
			continue
		}
		if key == "" {
			key = strings.ToLower(sf.Name)
		}
		f := fieldInfo{
			index: i, name: sf.Name, key: key, doc: sf.Tag.Get("doc"), typ: sf.Type,
			required: sf.Tag.Get("required") == "true",
			kind:     stage.Kind(sf.Tag.Get("stage")),
			noPrint:  sf.Tag.Get("fingerprint") == "-",
		}
		f.def, f.hasDef = sf.Tag.Lookup("default")
		if e := sf.Tag.Get("enum"); e != "" {
			for _, c := range strings.Split(e, ",") {
				f.enum = append(f.enum, strings.TrimSpace(c))
			}
		}
		out = append(out, f)
	}
	return out
}

// hiddenValue is a value that no message may print: one taken from the environment, or a secret.
type hiddenValue struct {
	path  string
	value string
	shown string // what to print instead
}

// decoder fills config structs from YAML nodes, collecting every error with its position.
type decoder struct {
	sink   *errorSink
	orig   map[*yaml.Node]string // scalars expanded from the environment → their text as written
	keys   map[string]*yaml.Node // path → key node of a mapping entry, or the item node of a list
	vals   map[string]*yaml.Node // path → value node
	hidden []hiddenValue
	stages []*Stage
}

func newDecoder(sink *errorSink, orig map[*yaml.Node]string) *decoder {
	return &decoder{sink: sink, orig: orig, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
}

func isNull(n *yaml.Node) bool { return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") }

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// got describes a node for "want X, got Y" messages, never printing a value from the environment.
func (d *decoder) got(n *yaml.Node) string {
	if o, ok := d.orig[n]; ok {
		return fmt.Sprintf("%q (from the environment)", o)
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	v := n.Value
	if len(v) > 60 {
		v = v[:57] + "..."
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("string %q", v)
	case "!!int":
		return "integer " + v
	case "!!float":
		return "number " + v
	case "!!bool":
		return "boolean " + v
	case "!!null":
		return "nothing (null)"
	}
	return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), v)
}

// shown is how a message quotes a scalar's value.
func (d *decoder) shown(n *yaml.Node) string {
	if o, ok := d.orig[n]; ok {
		return strconv.Quote(o)
	}
	return strconv.Quote(n.Value)
}

// plain is a number as written, or its ${VAR} text.
func (d *decoder) plain(n *yaml.Node) string {
	if o, ok := d.orig[n]; ok {
		return strconv.Quote(o)
	}
	return n.Value
}

// scrub removes from msg a value that came from the environment, printing its ${VAR} text instead.
func scrub(msg, value, shown string) string {
	if value == "" {
		return msg
	}
	for _, v := range []string{value, strings.TrimSpace(value)} {
		msg = strings.ReplaceAll(msg, strconv.Quote(v), strconv.Quote(shown))
	}
	// A value of a few characters cannot be told apart from ordinary words of a message; longer ones can.
	if len(value) >= 4 {
		msg = strings.ReplaceAll(msg, value, shown)
	}
	return msg
}

func (d *decoder) hide(path string, n *yaml.Node, shown string) {
	d.hidden = append(d.hidden, hiddenValue{path: path, value: n.Value, shown: shown})
}

// scrubUnder hides, in msg, every hidden value at or under path.
func (d *decoder) scrubUnder(path, msg string) string {
	for _, h := range d.hidden {
		if h.path == path || strings.HasPrefix(h.path, path+".") || strings.HasPrefix(h.path, path+"[") {
			msg = scrub(msg, h.value, h.shown)
		}
	}
	return msg
}

// decodeStruct fills the struct v from mapping n. n is nil when the key holding the struct is absent: then only
// defaults apply and missing required keys are reported at parent. extra keys are allowed and left alone.
func (d *decoder) decodeStruct(v reflect.Value, n *yaml.Node, path string, parent *yaml.Node, extra []string) {
	fields := fieldsOf(v.Type())
	if n != nil && n.Kind != yaml.MappingNode {
		d.sink.at(n, "%s: want a mapping, got %s", pathOrRoot(path), d.got(n))
		return
	}
	at := parent
	if n != nil {
		at = n
	}
	byKey := make(map[string]*fieldInfo, len(fields))
	for i := range fields {
		byKey[fields[i].key] = &fields[i]
	}
	seen := map[string]*yaml.Node{}
	nulls := map[string]*yaml.Node{}
	suggested := map[string]bool{} // keys offered as "did you mean": not reported missing as well
	if n != nil {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], deref(n.Content[i+1])
			if k.Kind != yaml.ScalarNode {
				d.sink.at(k, "%s: keys must be plain words, got %s", pathOrRoot(path), d.got(k))
				continue
			}
			p := joinPath(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				d.sink.at(k, "%s: duplicate key (first at line %d)", p, first.Line)
				continue
			}
			seen[k.Value] = k
			if slices.Contains(extra, k.Value) {
				continue
			}
			f, ok := byKey[k.Value]
			if !ok {
				valid := append(slices.Clone(extra), keysOf(fields)...)
				if c, ok := closest(k.Value, valid); ok {
					suggested[c] = true
				}
				d.sink.at(k, "%s: unknown key%s", p, didYouMean(k.Value, valid, "valid keys are:"))
				continue
			}
			d.keys[p], d.vals[p] = k, val
			if isNull(val) {
				nulls[f.key] = k
				continue
			}
			d.decodeField(v.Field(f.index), val, p, f)
		}
	}
	for i := range fields {
		f := &fields[i]
		if _, present := seen[f.key]; present && nulls[f.key] == nil {
			continue
		}
		p := joinPath(path, f.key)
		switch {
		case f.required && nulls[f.key] != nil:
			d.sink.at(nulls[f.key], "%s: required, but has no value", p)
		case f.required && suggested[f.key]:
		case f.required && path == "":
			d.sink.at(at, "missing required key %q", f.key)
		case f.required:
			d.sink.at(at, "%s: missing required key %q", path, f.key)
		case f.hasDef:
			d.applyDefault(v.Field(f.index), f, p, at)
		case f.typ.Kind() == reflect.Struct && f.typ != stageType:
			// An absent nested struct still gets its own defaults.
			d.decodeStruct(v.Field(f.index), nil, p, at, nil)
		}
	}
}

func keysOf(fields []fieldInfo) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.key
	}
	return out
}

// applyDefault decodes a default tag's text as if it had been written in the file.
func (d *decoder) applyDefault(v reflect.Value, f *fieldInfo, path string, at *yaml.Node) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(f.def), &doc); err != nil || len(doc.Content) != 1 {
		d.sink.at(at, "%s: internal error: default %q of %s is not a YAML value", path, f.def, f.name)
		return
	}
	n := doc.Content[0]
	n.Line, n.Column = 0, 0
	// A default is written by the stage's author, so its errors are bugs; they still must not pass silently.
	sub := &decoder{sink: &errorSink{file: d.sink.file}, orig: d.orig, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	sub.decodeField(v, n, path, f)
	for _, e := range sub.sink.list {
		d.sink.at(at, "internal error in the default of %s: %s", path, e.Msg)
	}
}

// decodeField decodes one value, then checks the field's enum and emptiness rules.
func (d *decoder) decodeField(v reflect.Value, n *yaml.Node, path string, f *fieldInfo) {
	d.decodeValue(v, n, path, f)
	if f.required && v.Kind() == reflect.Slice && v.Len() == 0 && n.Kind == yaml.SequenceNode {
		what := "entry"
		if f.kind != "" {
			what = string(f.kind)
		}
		d.sink.at(n, "%s: want at least one %s, got an empty list", path, what)
	}
}

// recordRaw records the positions inside a value kept as a raw node, so that a stage's FieldError for
// "columns.year" or "columns[2]" still points at that entry's own line.
func (d *decoder) recordRaw(n *yaml.Node, path string) {
	n = deref(n)
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := path + "." + n.Content[i].Value
			d.keys[p], d.vals[p] = n.Content[i], deref(n.Content[i+1])
			d.recordRaw(n.Content[i+1], p)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.keys[p], d.vals[p] = item, deref(item)
			d.recordRaw(item, p)
		}
	}
}

func (d *decoder) decodeValue(v reflect.Value, n *yaml.Node, path string, f *fieldInfo) {
	n = deref(n)
	t := v.Type()
	switch {
	case t == nodePtrType:
		v.Set(reflect.ValueOf(n))
		d.recordRaw(n, path)
		return
	case t == stageType && f != nil && f.kind != "":
		st := v.Addr().Interface().(*Stage)
		d.decodeStage(st, n, path, f.kind)
		return
	case t.Kind() == reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			return
		}
		nv := reflect.New(t.Elem())
		d.decodeValue(nv.Elem(), n, path, f)
		v.Set(nv)
		return
	case t == secretType:
		if d.scalar(n, path, "a string (secret)") {
			v.SetString(n.Value)
			d.hide(path, n, "[redacted]")
		}
		return
	case reflect.PointerTo(t).Implements(textUnmarshalType):
		d.decodeText(v, n, path)
		return
	}
	if _, env := d.orig[n]; env && n.Kind == yaml.ScalarNode {
		d.hide(path, n, d.orig[n])
	}
	switch t.Kind() {
	case reflect.String:
		if d.scalar(n, path, "a string") {
			if n.Tag == "!!null" {
				v.SetString("")
				return
			}
			v.SetString(n.Value)
			if f != nil && len(f.enum) > 0 && !slices.Contains(f.enum, n.Value) {
				d.sink.at(n, "%s: %s is not one of %s%s", path, d.shown(n), strings.Join(f.enum, ", "),
					didYouMean(n.Value, f.enum, ""))
			}
		}
	case reflect.Bool:
		if !d.scalar(n, path, "a boolean (true or false)") {
			return
		}
		if n.Tag == "!!bool" || d.isEnv(n) {
			if b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(n.Value))); err == nil {
				v.SetBool(b)
				return
			}
		}
		d.sink.at(n, "%s: want a boolean (true or false), got %s", path, d.got(n))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !d.scalar(n, path, "an integer") {
			return
		}
		i, ok := d.integer(n)
		if !ok {
			d.sink.at(n, "%s: want an integer, got %s", path, d.got(n))
			return
		}
		if v.OverflowInt(i) {
			d.sink.at(n, "%s: %s is out of range for a %d-bit integer", path, d.plain(n), t.Bits())
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !d.scalar(n, path, "a non-negative integer") {
			return
		}
		i, ok := d.integer(n)
		if !ok {
			d.sink.at(n, "%s: want a non-negative integer, got %s", path, d.got(n))
			return
		}
		if i < 0 || v.OverflowUint(uint64(i)) {
			d.sink.at(n, "%s: %s is out of range: want an integer from 0 to %d", path, d.plain(n), uint64(1)<<t.Bits()-1)
			return
		}
		v.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		if !d.scalar(n, path, "a number") {
			return
		}
		x, ok := d.float(n)
		if !ok {
			d.sink.at(n, "%s: want a number, got %s", path, d.got(n))
			return
		}
		v.SetFloat(x)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.sink.at(n, "%s: want a list, got %s", path, d.got(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.keys[p], d.vals[p] = item, deref(item)
			d.decodeValue(s.Index(i), item, p, f)
		}
		v.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.sink.at(n, "%s: internal error: map keys of %s must be strings", path, t)
			return
		}
		if n.Kind != yaml.MappingNode {
			d.sink.at(n, "%s: want a mapping, got %s", path, d.got(n))
			return
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			if k.Kind != yaml.ScalarNode {
				d.sink.at(k, "%s: keys must be plain words, got %s", path, d.got(k))
				continue
			}
			if first, dup := seen[k.Value]; dup {
				d.sink.at(k, "%s: duplicate key (first at line %d)", p, first.Line)
				continue
			}
			seen[k.Value] = k
			d.keys[p], d.vals[p] = k, deref(val)
			ev := reflect.New(t.Elem()).Elem()
			d.decodeValue(ev, val, p, f)
			kv := reflect.New(t.Key()).Elem()
			kv.SetString(k.Value)
			m.SetMapIndex(kv, ev)
		}
		v.Set(m)
	case reflect.Struct:
		d.decodeStruct(v, n, path, n, nil)
	default:
		d.sink.at(n, "%s: internal error: config fields of type %s are not supported", path, t)
	}
}

func (d *decoder) isEnv(n *yaml.Node) bool {
	_, ok := d.orig[n]
	return ok
}

// scalar reports whether n is a scalar, recording a "want ..." error if it is not.
func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind == yaml.ScalarNode {
		return true
	}
	d.sink.at(n, "%s: want %s, got %s", path, want, d.got(n))
	return false
}

func (d *decoder) integer(n *yaml.Node) (int64, bool) {
	s := strings.TrimSpace(n.Value)
	switch {
	case n.Tag == "!!int" || d.isEnv(n):
		base, digits := 10, strings.TrimLeft(s, "+-")
		if len(digits) > 1 && digits[0] == '0' && strings.ContainsRune("xXoObB", rune(digits[1])) {
			base = 0
		} else {
			s = strings.ReplaceAll(s, "_", "")
		}
		if i, err := strconv.ParseInt(s, base, 64); err == nil {
			return i, true
		}
		if n.Tag == "!!int" {
			return 0, false
		}
		fallthrough
	case n.Tag == "!!float":
		// 1e6 is a fine way to write a million rows; 1.5 rows is not.
		f, ok := d.float(n)
		if ok && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f), true
		}
	}
	return 0, false
}

func (d *decoder) float(n *yaml.Node) (float64, bool) {
	if n.Tag != "!!int" && n.Tag != "!!float" && !d.isEnv(n) {
		return 0, false
	}
	s := strings.ReplaceAll(strings.TrimSpace(n.Value), "_", "")
	switch strings.ToLower(s) {
	case ".inf", "+.inf":
		return math.Inf(1), true
	case "-.inf":
		return math.Inf(-1), true
	case ".nan":
		return math.NaN(), true
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// decodeText decodes through encoding.TextUnmarshaler (durations, sizes and any type a stage defines).
func (d *decoder) decodeText(v reflect.Value, n *yaml.Node, path string) {
	want := typeWord(v.Type())
	if !d.scalar(n, path, want) {
		return
	}
	if n.Tag == "!!null" {
		v.SetZero()
		return
	}
	if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
		msg := err.Error()
		if o, ok := d.orig[n]; ok {
			msg = scrub(msg, n.Value, o)
		}
		d.sink.at(n, "%s: %s", path, msg)
		return
	}
	if o, ok := d.orig[n]; ok {
		d.hide(path, n, o)
	}
}

// decodeStage decodes a stage node: its type, its optional name, then its type's config.
func (d *decoder) decodeStage(st *Stage, n *yaml.Node, path string, kind stage.Kind) {
	st.Kind, st.Path, st.Node = kind, path, n
	d.stages = append(d.stages, st)
	if n.Kind != yaml.MappingNode {
		d.sink.at(n, "%s: want a mapping with a type: key, got %s", path, d.got(n))
		return
	}
	var typeN, nameN *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "type":
			if typeN == nil {
				typeN = deref(n.Content[i+1])
			}
		case "name":
			if nameN == nil {
				nameN = deref(n.Content[i+1])
			}
		}
	}
	names := stage.Names(kind)
	registered := fmt.Sprintf("no %s types are registered", kind)
	if len(names) > 0 {
		registered = "registered: " + strings.Join(names, ", ")
	}
	if typeN == nil || isNull(typeN) {
		d.sink.at(n, "%s: missing required key \"type\" (%s)", path, registered)
		return
	}
	if typeN.Kind != yaml.ScalarNode {
		d.sink.at(typeN, "%s.type: want a %s type name, got %s", path, kind, d.got(typeN))
		return
	}
	st.Type, st.TypeNode = typeN.Value, typeN
	reg, ok := stage.Lookup(kind, st.Type)
	if !ok {
		hint := ""
		if c, ok := closest(st.Type, names); ok {
			hint = fmt.Sprintf("; did you mean %q?", c)
		}
		d.sink.at(typeN, "%s.type: unknown %s type %s%s (%s)", path, kind, d.shown(typeN), hint, registered)
		return
	}
	if nameN != nil && !isNull(nameN) {
		if nameN.Kind != yaml.ScalarNode {
			d.sink.at(nameN, "%s.name: want a string, got %s", path, d.got(nameN))
		} else {
			st.Name, st.NameNode = nameN.Value, nameN
		}
	}
	st.Registration = reg
	st.Config = reg.NewConfig()
	d.decodeStruct(reflect.ValueOf(st.Config).Elem(), n, path, n, []string{"type", "name"})
}

// typeWord names a Go config type as YAML users think of it.
func typeWord(t reflect.Type) string {
	switch t {
	case durationType:
		return "a duration"
	case byteSizeType:
		return "a size"
	case secretType:
		return "a secret"
	}
	w := userType(t)
	if strings.ContainsRune("aeiou", rune(w[0])) {
		return "an " + w
	}
	return "a " + w
}
