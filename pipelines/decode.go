package pipelines

import (
	"encoding"
	"errors"
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
	root   *yaml.Node
	keys   map[string]*yaml.Node // path → key node of a mapping entry, or the item node of a list
	vals   map[string]*yaml.Node // path → value node
	hidden []hiddenValue
	secret []string  // values of stage.Secret fields, for the redactor
	warn   ErrorList // secrets written inline in the file
	stages []*Stage

	nulls     map[string]*yaml.Node // path → key node of a key written without a value: absent for the rules
	suggested map[string]bool       // keys offered as "did you mean": not reported missing as well
	failed    map[string]bool       // paths whose value did not decode: their rules would only repeat that error
	broken    map[string]bool       // paths of structs that are not a mapping: nothing under them is reported
}

func newDecoder(sink *errorSink, orig map[*yaml.Node]string, root *yaml.Node) *decoder {
	return &decoder{sink: sink, orig: orig, root: root, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{},
		nulls: map[string]*yaml.Node{}, suggested: map[string]bool{}, failed: map[string]bool{}, broken: map[string]bool{}}
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

// checkInline warns about a secret written in the file itself, where everyone who reads the repository sees it:
// any value of a secret field, and the password of a URL (postgres://user:pw@host) in any field.
func (d *decoder) checkInline(n *yaml.Node, path string, secret bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || d.sink == nil {
		return
	}
	text := n.Value
	if o, ok := d.orig[n]; ok {
		text = o
	}
	const advice = "write ${VAR} to take it from the environment, or ${file:PATH} to read it from a secret file"
	var msg string
	switch pw := urlPassword(text); {
	case pw != "" && !strings.Contains(pw, "${"):
		msg = fmt.Sprintf("warning: %s: the password of this URL is written in the file: %s", path, advice)
	case secret && text != "" && !strings.Contains(text, "${"):
		msg = fmt.Sprintf("warning: %s: a secret is written in the file: %s", path, advice)
	default:
		return
	}
	d.warn = append(d.warn, &Error{File: d.sink.fileOf(n), Line: n.Line, Col: n.Column, Msg: msg})
}

// urlPassword is the password of a URL with user information, as written ("" when there is none).
func urlPassword(s string) string {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(s), "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, " /") {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndexByte(host, '@')
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(host[:at], ":")
	return pw
}

// decodeStruct fills the struct v from mapping n. The rules of its keys (defaults, required, enum, bounds) are
// applied by complete once the whole config is decoded. extra keys are allowed and left alone.
func (d *decoder) decodeStruct(v reflect.Value, n *yaml.Node, path string, extra []string) {
	fields := stage.Fields(v.Type())
	if n.Kind != yaml.MappingNode {
		d.sink.at(n, "%s: want a mapping, got %s", pathOrRoot(path), d.got(n))
		d.broken[path] = true
		return
	}
	byKey := make(map[string]*stage.Field, len(fields))
	for i := range fields {
		byKey[fields[i].Key] = &fields[i]
	}
	seen := map[string]*yaml.Node{}
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
				d.suggested[joinPath(path, c)] = true
			}
			d.sink.at(k, "%s: unknown key%s", p, didYouMean(k.Value, valid, "valid keys are:"))
			continue
		}
		d.keys[p], d.vals[p] = k, val
		if isNull(val) {
			d.nulls[p] = k
			continue
		}
		d.decodeTracked(v.Field(f.Index), val, p, f)
	}
}

// decodeTracked decodes a value and remembers whether that failed.
func (d *decoder) decodeTracked(v reflect.Value, n *yaml.Node, path string, f *stage.Field) {
	before := len(d.sink.list)
	d.decodeValue(v, n, path, f)
	if len(d.sink.list) > before {
		d.failed[path] = true
	}
}

func keysOf(fields []stage.Field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Key
	}
	return out
}

// presence tells stage.Complete which keys of the config decoded at prefix the file gives a value.
func (d *decoder) presence(prefix string) func(string) bool {
	return func(path string) bool {
		full := joinPath(prefix, path)
		return d.keys[full] != nil && d.nulls[full] == nil
	}
}

// complete applies the tags of the config cfg decoded at prefix (stage.Complete: defaults of absent keys, then
// required, enum and bounds), at the position of the keys its errors name.
func (d *decoder) complete(cfg any, prefix string) {
	fields, other := stage.FieldErrors(stage.Complete(cfg, d.presence(prefix)))
	for _, e := range other {
		d.sink.at(d.nodeNear(prefix), "%s: internal error: %v", pathOrRoot(prefix), e)
	}
	for _, fe := range fields {
		full := joinPath(prefix, fe.Path)
		if d.failed[full] || d.underBroken(full) {
			continue
		}
		if !errors.Is(fe.Err, stage.ErrMissing) {
			d.sink.at(d.nodeNear(full), "%s: %s", full, d.scrubUnder(full, fe.Err.Error()))
			continue
		}
		switch parent, key := splitPath(full); {
		case d.nulls[full] != nil:
			d.sink.at(d.nulls[full], "%s: required, but has no value", full)
		case d.suggested[full]:
		case parent == "":
			d.sink.at(d.nodeNear(parent), "missing required key %q", key)
		default:
			d.sink.at(d.nodeNear(parent), "%s: missing required key %q", parent, key)
		}
	}
}

// underBroken tells whether path lies inside a struct that was not given as a mapping.
func (d *decoder) underBroken(path string) bool {
	for path != "" {
		path, _ = splitPath(path)
		if d.broken[path] {
			return true
		}
	}
	return false
}

// nodeNear is the value node at path, or that of its nearest ancestor written in the file, or the root.
func (d *decoder) nodeNear(path string) *yaml.Node {
	for path != "" {
		if n := d.vals[path]; n != nil {
			return n
		}
		path, _ = splitPath(path)
	}
	return d.root
}

// splitPath splits "a.b[2].c" into "a.b[2]" and "c", and "a.b[2]" into "a.b" and "[2]".
func splitPath(path string) (parent, last string) {
	i := strings.LastIndexAny(path, ".[")
	switch {
	case i < 0:
		return "", path
	case path[i] == '.':
		return path[:i], path[i+1:]
	}
	return path[:i], path[i:]
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

func (d *decoder) decodeValue(v reflect.Value, n *yaml.Node, path string, f *stage.Field) {
	n = deref(n)
	t := v.Type()
	switch {
	case t == nodePtrType:
		v.Set(reflect.ValueOf(n))
		d.recordRaw(n, path)
		return
	case t == stageType && f != nil && f.Stage != "":
		st := v.Addr().Interface().(*Stage)
		d.decodeStage(st, n, path, f.Stage)
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
		d.checkInline(n, path, true)
		if d.scalar(n, path, "a string (secret)") {
			v.SetString(n.Value)
			d.hide(path, n, "[redacted]")
			d.secret = append(d.secret, n.Value)
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
		d.checkInline(n, path, false)
		if d.scalar(n, path, "a string") {
			if n.Tag == "!!null" {
				v.SetString("")
				return
			}
			v.SetString(n.Value)
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
			d.decodeTracked(s.Index(i), item, p, f)
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
			d.decodeTracked(ev, val, p, f)
			kv := reflect.New(t.Key()).Elem()
			kv.SetString(k.Value)
			m.SetMapIndex(kv, ev)
		}
		v.Set(m)
	case reflect.Struct:
		d.decodeStruct(v, n, path, nil)
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
	d.decodeStruct(reflect.ValueOf(st.Config).Elem(), n, path, []string{"type", "name"})
	st.present = d.presence(path)
	d.complete(st.Config, path)
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
