package pipelines

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/stage"
)

// PartitionID names a partition; see stage.PartitionID, which the engine calls.
func PartitionID(pipeline, runLabel, key string) string {
	return stage.PartitionID(pipeline, runLabel, key)
}

// Fingerprint is the sha256 (hex) of the part of the spec that decides what is written: the name, and the type
// and decoded config (defaults applied) of every consumer, transformer and loader. Secrets, fields tagged
// fingerprint:"-", stage name: labels, description, retries, state and tests are left out, as are formatting,
// comments and key order. The engine stores it with each committed partition and re-runs partitions whose
// fingerprint changed.
func (p *Pipeline) Fingerprint() string {
	h := sha256.New()
	w := &canonWriter{w: h}
	w.str("name")
	w.str(p.Name)
	w.str("consumer")
	w.stage(p.Consumer)
	w.str("transformers")
	w.open('[', len(p.Transformers))
	for _, st := range p.Transformers {
		w.stage(st)
	}
	w.str("loaders")
	w.open('[', len(p.Loaders))
	for _, st := range p.Loaders {
		w.stage(st)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonWriter writes an unambiguous encoding: every string length-prefixed, every container counted.
type canonWriter struct{ w io.Writer }

func (c *canonWriter) str(s string) { fmt.Fprintf(c.w, "%d:%s", len(s), s) }

func (c *canonWriter) open(kind byte, n int) { fmt.Fprintf(c.w, "%c%d", kind, n) }

func (c *canonWriter) stage(st *Stage) {
	if st == nil {
		c.str("<nil>")
		return
	}
	c.str(string(st.Kind))
	c.str(st.Type)
	c.value(reflect.ValueOf(st.Config))
}

func (c *canonWriter) value(v reflect.Value) {
	if !v.IsValid() {
		c.open('0', 0)
		return
	}
	t := v.Type()
	switch {
	case t == nodePtrType:
		c.node(v.Interface().(*yaml.Node))
		return
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			c.open('0', 0)
			return
		}
		c.open('*', 1)
		c.value(v.Elem())
		return
	case t.Implements(textMarshalType) && t != secretType:
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			b = []byte("!" + err.Error())
		}
		c.open('t', 1)
		c.str(string(b))
		return
	}
	switch t.Kind() {
	case reflect.String:
		c.str(v.String())
	case reflect.Bool:
		c.str(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c.str(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		c.str(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		c.str(strconv.FormatFloat(v.Float(), 'g', -1, 64))
	case reflect.Slice, reflect.Array:
		c.open('[', v.Len())
		for i := range v.Len() {
			c.value(v.Index(i))
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return compareStrings(a.String(), b.String()) })
		c.open('{', len(keys))
		for _, k := range keys {
			c.str(k.String())
			c.value(v.MapIndex(k))
		}
	case reflect.Struct:
		var fields []stage.Field
		for _, f := range stage.Fields(t) {
			if f.NoFingerprint || f.Type == secretType {
				continue
			}
			fields = append(fields, f)
		}
		// Sorted by key, so that reordering the fields of a config struct does not re-run everything.
		slices.SortFunc(fields, func(a, b stage.Field) int { return compareStrings(a.Key, b.Key) })
		c.open('(', len(fields))
		for _, f := range fields {
			c.str(f.Key)
			c.value(v.Field(f.Index))
		}
	default:
		c.str(fmt.Sprint(v.Interface()))
	}
}

func (c *canonWriter) node(n *yaml.Node) {
	n = deref(n)
	if n == nil {
		c.open('0', 0)
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		c.open('m', len(n.Content)/2)
		for _, x := range n.Content {
			c.node(x)
		}
	case yaml.SequenceNode:
		c.open('s', len(n.Content))
		for _, x := range n.Content {
			c.node(x)
		}
	default:
		c.str(n.Tag)
		c.str(n.Value)
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
