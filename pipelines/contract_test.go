package pipelines_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	_ "github.com/jetflow-dev/jetflow/builtin"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
)

var kinds = []stage.Kind{stage.KindConsumer, stage.KindTransformer, stage.KindLoader}

// registrations lists every registered stage type, the built-in ones and this package's test stages.
func registrations(t *testing.T) []*stage.Registration {
	var out []*stage.Registration
	for _, k := range kinds {
		for _, name := range stage.Names(k) {
			reg, _ := stage.Lookup(k, name)
			out = append(out, reg)
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d stage types registered: is builtin imported?", len(out))
	}
	return out
}

// TestContractZeroConfig runs every stage type's zero config through the contract: Complete reports exactly
// the required keys, as FieldErrors, and gives every other key its tagged default; Build reports the same and
// never panics.
func TestContractZeroConfig(t *testing.T) {
	for _, reg := range registrations(t) {
		t.Run(string(reg.Kind)+"/"+reg.Name, func(t *testing.T) {
			cfg := reg.NewConfig()
			err := noPanic(t, "Complete", func() error { return stage.Complete(cfg, nil) })
			fields, other := stage.FieldErrors(err)
			if len(other) > 0 {
				t.Errorf("errors that name no key: %v", other)
			}
			var missing []string
			for _, fe := range fields {
				if !errors.Is(fe, stage.ErrMissing) {
					t.Errorf("%s: %v, want only missing required keys", fe.Path, fe.Err)
				}
				missing = append(missing, fe.Path)
			}
			var required []string
			for _, f := range stage.Fields(reg.ConfigType) {
				if f.Required {
					required = append(required, f.Key)
				}
			}
			if strings.Join(missing, ",") != strings.Join(required, ",") {
				t.Errorf("missing keys reported: %q, want the required ones: %q", missing, required)
			}
			checkDefaults(t, reflect.ValueOf(cfg).Elem(), "")

			_, berr := noPanicBuild(t, reg, reg.NewConfig())
			if len(required) > 0 && !errors.Is(berr, stage.ErrMissing) {
				t.Errorf("Build of the zero config: %v, want the missing required keys", berr)
			}
		})
	}
}

// checkDefaults: every key with a default tag holds it, in nested structs too.
func checkDefaults(t *testing.T, v reflect.Value, prefix string) {
	t.Helper()
	for _, f := range stage.Fields(v.Type()) {
		fv, path := v.Field(f.Index), prefix+f.Key
		if f.HasDefault {
			want, err := stage.ParseValue(f.Type, f.Default)
			if err != nil {
				t.Errorf("%s: default %q: %v", path, f.Default, err)
				continue
			}
			if !reflect.DeepEqual(fv.Interface(), want.Interface()) {
				t.Errorf("%s = %v after Complete, want its default %q", path, fv.Interface(), f.Default)
			}
			continue
		}
		if fv.Kind() == reflect.Struct && f.Stage == "" && len(stage.Fields(fv.Type())) > 0 && fv.Type().PkgPath() != "gopkg.in/yaml.v3" {
			checkDefaults(t, fv, path+".")
		}
	}
}

func noPanic(t *testing.T, what string, f func() error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
		}
	}()
	return f()
}

func noPanicBuild(t *testing.T, reg *stage.Registration, cfg any) (v any, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Build of the zero config panicked: %v", r)
		}
	}()
	v, err = reg.Build(stage.BuildContext{Pipeline: "conformance", Dir: t.TempDir()}, cfg)
	if c, ok := v.(interface{ Close() error }); ok {
		_ = c.Close()
	}
	return v, err
}

// TestDefaultTagsHoldTheirOwnRules: every default parses as its field's type and passes the field's enum and
// bounds; every bound parses; an enum is on a string or a list of strings. For every config struct reachable
// from a stage type or the top level of a pipeline file.
func TestDefaultTagsHoldTheirOwnRules(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(t *testing.T, typ reflect.Type, where string)
	walk = func(t *testing.T, typ reflect.Type, where string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ.PkgPath() == "gopkg.in/yaml.v3" || typ == reflect.TypeFor[pipelines.Stage]() {
			return
		}
		seen[typ] = true
		for _, f := range stage.Fields(typ) {
			path := where + "." + f.Key
			checkField(t, typ, f, path)
			walk(t, f.Type, path)
		}
	}
	walk(t, reflect.TypeFor[pipelines.Spec](), "spec")
	for _, reg := range registrations(t) {
		walk(t, reg.ConfigType, reg.Name)
	}
	if len(seen) < 20 {
		t.Errorf("only %d config structs checked", len(seen))
	}
}

func checkField(t *testing.T, typ reflect.Type, f stage.Field, path string) {
	t.Helper()
	elem := f.Type
	if elem.Kind() == reflect.Slice {
		elem = elem.Elem()
	}
	if len(f.Enum) > 0 && elem.Kind() != reflect.String {
		t.Errorf("%s: enum on a %s", path, f.Type)
	}
	for _, b := range []struct{ name, text string }{{"min", f.Min}, {"max", f.Max}} {
		if b.text == "" {
			continue
		}
		if _, err := stage.ParseValue(elem, b.text); err != nil {
			t.Errorf("%s: %s %q does not parse as %s: %v", path, b.name, b.text, elem, err)
		}
	}
	if !f.HasDefault {
		return
	}
	// The default alone, as if written: only its own key's rules may complain.
	v := reflect.New(typ)
	d, err := stage.ParseValue(f.Type, f.Default)
	if err != nil {
		t.Errorf("%s: default %q does not parse as %s: %v", path, f.Default, f.Type, err)
		return
	}
	v.Elem().Field(f.Index).Set(d)
	fields, _ := stage.FieldErrors(stage.Complete(v.Interface(), func(p string) bool { return p == f.Key }))
	for _, fe := range fields {
		if fe.Path == f.Key || strings.HasPrefix(fe.Path, f.Key+"[") {
			t.Errorf("%s: default %q breaks its own rules: %v", path, f.Default, fe.Err)
		}
	}
}

// TestContractExamples decodes (and so completes) every example pipeline, and every YAML example of the
// documentation that is a pipeline or a single stage, with any ${VAR} set.
func TestContractExamples(t *testing.T) {
	env := func(string) (string, bool) { return "example", true }
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".test.yaml") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := (pipelines.Options{LookupEnv: env}).Load(f); err != nil {
				t.Error(err)
			}
		})
		checked++
	}
	docs, err := filepath.Glob("../*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range []string{"../docs/*.md", "../consumers/*/README.md", "../loaders/*/README.md", "../transformers/*/README.md"} {
		more, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, more...)
	}
	for _, doc := range docs {
		src, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, block := range yamlBlocks(string(src)) {
			pipeline, ok := asPipeline(block)
			if !ok {
				continue
			}
			checked++
			t.Run(fmt.Sprintf("%s#%d", strings.TrimPrefix(doc, "../"), i+1), func(t *testing.T) {
				if _, err := (pipelines.Options{LookupEnv: env}).Parse(doc, []byte(pipeline)); err != nil {
					t.Errorf("%v\nin:\n%s", err, pipeline)
				}
			})
		}
	}
	if checked < 10 {
		t.Errorf("only %d examples checked", checked)
	}
}

var yamlBlockRE = regexp.MustCompile("(?ms)^(<!-- project example: [^\n]*-->\n)?```yaml\n(.*?)^```")

// yamlBlocks are the YAML blocks of a page, but for the files of a project example (marked <!-- project example:
// FILE -->): those pipelines inherit from the project file beside them, and cmd/jetflow's TestProjectDocExample
// writes them out together and validates them.
func yamlBlocks(md string) []string {
	var out []string
	for _, m := range yamlBlockRE.FindAllStringSubmatch(md, -1) {
		if m[1] == "" {
			out = append(out, m[2])
		}
	}
	return out
}

// asPipeline returns a documentation block as a whole pipeline: itself when it is one, or completed with a
// minimal source, sink or name when it shows a consumer, transformers, loaders or a single stage. Fragments (a few
// keys of a stage) are not examples of a whole config.
func asPipeline(block string) (string, bool) {
	var v any
	if yaml.Unmarshal([]byte(block), &v) != nil || v == nil {
		return "", false
	}
	source := map[string]any{"type": "generate", "rows": 1, "columns": []any{map[string]any{"name": "id", "type": "int64"}}}
	sink := []any{map[string]any{"type": "parquet", "path": "out"}}
	p := map[string]any{"name": "example"}
	switch v := v.(type) {
	case []any: // a list of stages, as under transformers: or loaders:
		first, ok := v[0].(map[string]any)
		if !ok {
			return "", false
		}
		typ, _ := first["type"].(string)
		switch {
		case isType(stage.KindTransformer, typ):
			p["consumer"], p["transformers"], p["loaders"] = source, v, sink
		case isType(stage.KindLoader, typ):
			p["consumer"], p["loaders"] = source, v
		default:
			return "", false
		}
	case map[string]any:
		typ, _ := v["type"].(string)
		switch {
		case v["consumer"] != nil || v["transformers"] != nil || v["loaders"] != nil:
			p["consumer"], p["loaders"] = source, sink
			for k, x := range v {
				p[k] = x
			}
		case isType(stage.KindConsumer, typ):
			p["consumer"], p["loaders"] = v, sink
		case isType(stage.KindTransformer, typ):
			p["consumer"], p["transformers"], p["loaders"] = source, []any{v}, sink
		case isType(stage.KindLoader, typ):
			p["consumer"], p["loaders"] = source, []any{v}
		default:
			return "", false
		}
	default:
		return "", false
	}
	out, err := yaml.Marshal(p)
	if err != nil {
		return "", false
	}
	return string(out), true
}

func isType(k stage.Kind, name string) bool {
	_, ok := stage.Lookup(k, name)
	return ok
}
