package stage

import (
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jetflow-dev/jetflow/internal/suggest"
)

// Field is one key of a config struct and the rules its tags declare. The tags are the only declaration of a
// key's rules: Complete enforces them, the pipeline decoder positions their errors, the reference documents them.
//
//	yaml:"key"          the YAML key (default: the Go name in lower case); "-" hides the field
//	doc:"..."           one line for the reference
//	default:"text"      the value of an absent key, as plain text (16MiB, 30s, true, *): never YAML-quoted; a
//	                    list's items are separated by commas (failure,recovery)
//	required:"true"     the key must be given (a list: with at least one entry)
//	enum:"a,b,c"        the value (or each item of a list) is one of these
//	min:"1" max:"64"    bounds of a number, size or duration, written as the value is
//	stage:"loader"      the key holds stages of that kind (pipeline files only)
//	fingerprint:"-"     the key does not change what a partition writes (left out of its identity)
type Field struct {
	Index         int    // in the struct, for reflect.Value.Field
	Name          string // Go name
	Key           string // YAML key
	Doc           string
	Default       string
	HasDefault    bool
	Required      bool
	Enum          []string
	Min, Max      string // bounds as written in the tags; "" when unbounded
	Stage         Kind   // for fields holding stages: their kind
	NoFingerprint bool
	Type          reflect.Type
}

var fieldCache sync.Map // reflect.Type → []Field

// Fields lists the config keys of a struct type, in declaration order.
func Fields(t reflect.Type) []Field {
	if v, ok := fieldCache.Load(t); ok {
		return v.([]Field)
	}
	var out []Field
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
		f := Field{
			Index: i, Name: sf.Name, Key: key, Doc: sf.Tag.Get("doc"), Type: sf.Type,
			Required:      sf.Tag.Get("required") == "true",
			Min:           sf.Tag.Get("min"),
			Max:           sf.Tag.Get("max"),
			Stage:         Kind(sf.Tag.Get("stage")),
			NoFingerprint: sf.Tag.Get("fingerprint") == "-",
		}
		f.Default, f.HasDefault = sf.Tag.Lookup("default")
		if e := sf.Tag.Get("enum"); e != "" {
			for _, c := range strings.Split(e, ",") {
				f.Enum = append(f.Enum, strings.TrimSpace(c))
			}
		}
		out = append(out, f)
	}
	fieldCache.Store(t, out)
	return out
}

// ErrMissing is the error of a FieldError for a required key that is absent.
var ErrMissing = errors.New("missing required key")

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// ParseValue decodes the text of a default or a bound into a new value of type t: through
// encoding.TextUnmarshaler (durations, sizes) when t has it, else as a string (verbatim, never YAML-quoted),
// boolean, number, or a list of those separated by commas.
func ParseValue(t reflect.Type, text string) (reflect.Value, error) {
	v := reflect.New(t)
	if t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		if err := v.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			return reflect.Value{}, err
		}
		return v.Elem(), nil
	}
	e := v.Elem()
	s := strings.TrimSpace(text)
	switch t.Kind() {
	case reflect.String:
		e.SetString(text)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return reflect.Value{}, fmt.Errorf("want true or false, got %q", text)
		}
		e.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, t.Bits())
		if err != nil {
			return reflect.Value{}, fmt.Errorf("want a %d-bit integer, got %q", t.Bits(), text)
		}
		e.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 10, t.Bits())
		if err != nil {
			return reflect.Value{}, fmt.Errorf("want a non-negative %d-bit integer, got %q", t.Bits(), text)
		}
		e.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), t.Bits())
		if err != nil {
			return reflect.Value{}, fmt.Errorf("want a number, got %q", text)
		}
		e.SetFloat(f)
	case reflect.Slice:
		// A list's default is its items separated by commas: default:"failure,recovery".
		var items []string
		if s != "" {
			items = strings.Split(s, ",")
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			iv, err := ParseValue(t.Elem(), strings.TrimSpace(item))
			if err != nil {
				return reflect.Value{}, err
			}
			out.Index(i).Set(iv)
		}
		e.Set(out)
	default:
		return reflect.Value{}, fmt.Errorf("a %s cannot be written as text", t)
	}
	return e, nil
}

// Complete applies a config's tags to it: every absent key takes its default, then required keys, enums and
// bounds are checked, in nested structs, lists and maps of structs too. present tells whether the key at a path
// ("partition.every", "columns[2].type") was given: the pipeline decoder passes the keys written in the file,
// so that an explicit `retries: 0` or `false` is kept; nil means a config built in Go, where a zero value is
// absent. cfg is a pointer to a struct, completed in place. The errors are *FieldError, joined; the default of
// a key is the stage author's and its errors are bugs, reported as such.
func Complete(cfg any, present func(path string) bool) error {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("stage: Complete wants a pointer to a config struct, got %T", cfg)
	}
	c := completer{present: present}
	c.structValue(v.Elem(), "")
	return errors.Join(c.errs...)
}

type completer struct {
	present func(string) bool
	errs    []error
}

func (c *completer) fail(path, format string, args ...any) {
	c.errs = append(c.errs, FieldErrorf(path, format, args...))
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func (c *completer) structValue(v reflect.Value, prefix string) {
	for _, f := range Fields(v.Type()) {
		path := joinKey(prefix, f.Key)
		fv := v.Field(f.Index)
		given := !fv.IsZero()
		if c.present != nil {
			given = c.present(path)
		}
		switch {
		case !given && f.Required:
			c.errs = append(c.errs, &FieldError{Path: path, Err: ErrMissing})
			continue
		case !given && f.HasDefault:
			d, err := ParseValue(f.Type, f.Default)
			if err != nil {
				c.fail(path, "internal error: default %q of %s: %v", f.Default, f.Name, err)
				continue
			}
			fv.Set(d)
		case !given:
			// Nothing to check in an absent key without a default, but an absent struct still gets the
			// defaults of its own keys.
			if isConfigStruct(fv.Type()) && f.Stage == "" {
				c.nested(fv, path)
			}
			continue
		case f.Required && fv.Kind() == reflect.Slice && fv.Len() == 0:
			what := "entry"
			if f.Stage != "" {
				what = string(f.Stage)
			}
			c.fail(path, "want at least one %s, got an empty list", what)
		}
		c.check(fv, path, &f)
		if f.Stage == "" {
			c.nested(fv, path)
		}
	}
}

// isConfigStruct tells the structs whose keys Complete fills: those with yaml-tagged fields (not a yaml.Node,
// nor a value decoded from text).
func isConfigStruct(t reflect.Type) bool {
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return false
	}
	for i := range t.NumField() {
		if _, ok := t.Field(i).Tag.Lookup("yaml"); ok {
			return true
		}
	}
	return false
}

// nested completes the structs inside v: v itself, the struct it points to, or each struct of its list or map.
func (c *completer) nested(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Struct:
		if isConfigStruct(v.Type()) {
			c.structValue(v, path)
		}
	case reflect.Pointer:
		if !v.IsNil() && isConfigStruct(v.Type().Elem()) {
			c.structValue(v.Elem(), path)
		}
	case reflect.Slice:
		if !isConfigStruct(v.Type().Elem()) && !(v.Type().Elem().Kind() == reflect.Pointer && isConfigStruct(v.Type().Elem().Elem())) {
			return
		}
		for i := range v.Len() {
			c.nested(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if !isConfigStruct(v.Type().Elem()) {
			return
		}
		for _, k := range v.MapKeys() {
			// Map values cannot be set in place: complete a copy and store it back.
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			c.structValue(e, joinKey(path, fmt.Sprint(k.Interface())))
			v.SetMapIndex(k, e)
		}
	}
}

// check applies the enum and the bounds of f to the value v at path (each item of a list).
func (c *completer) check(v reflect.Value, path string, f *Field) {
	if len(f.Enum) == 0 && f.Min == "" && f.Max == "" {
		return
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
		for i := range v.Len() {
			c.checkOne(v.Index(i), fmt.Sprintf("%s[%d]", path, i), f)
		}
		return
	}
	c.checkOne(v, path, f)
}

func (c *completer) checkOne(v reflect.Value, path string, f *Field) {
	if len(f.Enum) > 0 && v.Kind() == reflect.String {
		if s := v.String(); !slices.Contains(f.Enum, s) {
			hint := ""
			if near, ok := suggest.Closest(s, f.Enum); ok {
				hint = fmt.Sprintf("; did you mean %q?", near)
			}
			// A secret is never printed, even in a message about its own value.
			shown := strconv.Quote(s)
			if _, secret := v.Interface().(Secret); secret {
				shown = "the value"
			}
			c.fail(path, "%s is not one of %s%s", shown, strings.Join(f.Enum, ", "), hint)
		}
	}
	if f.Min == "" && f.Max == "" {
		return
	}
	lo, hi, err := bounds(v.Type(), f)
	if err != nil {
		c.fail(path, "internal error: %v", err)
		return
	}
	below := lo.IsValid() && compareNumbers(v, lo) < 0
	above := hi.IsValid() && compareNumbers(v, hi) > 0
	switch {
	case (below || above) && lo.IsValid() && hi.IsValid():
		c.fail(path, "%v is out of range %s-%s", v.Interface(), f.Min, f.Max)
	case below:
		c.fail(path, "want at least %s, got %v", f.Min, v.Interface())
	case above:
		c.fail(path, "want at most %s, got %v", f.Max, v.Interface())
	}
}

// bounds parses the min and max tags of f for values of type t; an unset bound is the invalid Value.
func bounds(t reflect.Type, f *Field) (lo, hi reflect.Value, err error) {
	if !isNumber(t) {
		return lo, hi, fmt.Errorf("min/max of %s: a %s has no order", f.Name, t)
	}
	if f.Min != "" {
		if lo, err = ParseValue(t, f.Min); err != nil {
			return lo, hi, fmt.Errorf("min %q of %s: %v", f.Min, f.Name, err)
		}
	}
	if f.Max != "" {
		if hi, err = ParseValue(t, f.Max); err != nil {
			return lo, hi, fmt.Errorf("max %q of %s: %v", f.Max, f.Name, err)
		}
	}
	return lo, hi, nil
}

func isNumber(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// compareNumbers orders two numbers of the same type.
func compareNumbers(a, b reflect.Value) int {
	switch a.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cmp.Compare(a.Int(), b.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cmp.Compare(a.Uint(), b.Uint())
	}
	return cmp.Compare(a.Float(), b.Float())
}

// Given is the presence of a config built in Go that sets some keys to their zero value on purpose, such as a
// `dictionary: false` whose default is true: those keys, and every key whose value in cfg is not zero.
// Complete(cfg, nil) takes only the latter.
func Given(cfg any, keys ...string) func(path string) bool {
	root := reflect.ValueOf(cfg)
	return func(path string) bool {
		if slices.Contains(keys, path) {
			return true
		}
		v, ok := valueAt(root, path)
		return ok && !v.IsZero()
	}
}

// valueAt finds the value at a Complete path ("a.b[2].c", "columns.year.type") under v.
func valueAt(v reflect.Value, path string) (reflect.Value, bool) {
	for path != "" {
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		if path[0] == '[' {
			end := strings.IndexByte(path, ']')
			i, err := strconv.Atoi(path[1:max(end, 1)])
			if end < 0 || err != nil || v.Kind() != reflect.Slice || i < 0 || i >= v.Len() {
				return reflect.Value{}, false
			}
			v, path = v.Index(i), strings.TrimPrefix(path[end+1:], ".")
			continue
		}
		seg := path
		if i := strings.IndexAny(path, ".["); i >= 0 {
			seg, path = path[:i], strings.TrimPrefix(path[i:], ".")
		} else {
			path = ""
		}
		switch v.Kind() {
		case reflect.Struct:
			found := false
			for _, f := range Fields(v.Type()) {
				if f.Key == seg {
					v, found = v.Field(f.Index), true
					break
				}
			}
			if !found {
				return reflect.Value{}, false
			}
		case reflect.Map:
			if v.Type().Key().Kind() != reflect.String {
				return reflect.Value{}, false
			}
			k := reflect.New(v.Type().Key()).Elem()
			k.SetString(seg)
			if v = v.MapIndex(k); !v.IsValid() {
				return reflect.Value{}, false
			}
		default:
			return reflect.Value{}, false
		}
	}
	return v, true
}
