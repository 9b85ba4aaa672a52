package pipelines_test

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	_ "github.com/jetflow-dev/jetflow/builtin"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
)

// -update is defined by the package's internal tests, which share this test binary.
func updating() bool { return flag.Lookup("update").Value.String() == "true" }

// TestReference keeps docs/REFERENCE.md equal to what pipelines.Reference() renders for the built-in stages.
func TestReference(t *testing.T) {
	const path = "../docs/REFERENCE.md"
	got := pipelines.ReferenceWithoutTestStages()
	for _, want := range []string{"## Top level", "`run_instance.every`", "### generate", "`columns[].name`", "### parquet", "`s3.secret_access_key`"} {
		if !strings.Contains(got, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pipelines -run TestReference -update)", err)
	}
	if got != string(want) {
		t.Errorf("docs/REFERENCE.md is out of date: run go test ./pipelines -run TestReference -update")
	}
}

// staleClaims are phrases that were true of an earlier jetflow and must not come back into a doc: tag.
var staleClaims = []string{
	"not yet driven",
	"not driven by the engine",
	"not yet implemented",
	"not yet supported",
	"todo",
	"coming soon",
}

var (
	// A default as a sentence writes it: "Default 1." or "(default 30s)", a number, size, duration or boolean.
	docDefaultRE = regexp.MustCompile(`(?i)\bdefault:? ([0-9][0-9A-Za-z._]*?|true|false)[.,;)]*(?:\s|$)`)
	docAtLeastRE = regexp.MustCompile(`\(at least ([^\s,;()]+)\)`)
	docAtMostRE  = regexp.MustCompile(`\(at most ([^\s,;()]+)\)`)
	docChoiceRE  = regexp.MustCompile(`(?:^|; )([a-z][a-z0-9_-]*): `)
)

// TestReferenceProse keeps what the doc: sentences claim true: no stale claim, and every default, bound and
// choice a sentence writes agrees with the key's tags, which are what Complete enforces.
func TestReferenceProse(t *testing.T) {
	type keyDoc struct {
		where string
		f     stage.Field
	}
	var all []keyDoc
	var walk func(where string, typ reflect.Type)
	walk = func(where string, typ reflect.Type) {
		for _, f := range stage.Fields(typ) {
			all = append(all, keyDoc{where + f.Key, f})
			et := f.Type
			for et.Kind() == reflect.Pointer || et.Kind() == reflect.Slice || et.Kind() == reflect.Map {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct && f.Stage == "" && len(stage.Fields(et)) > 0 && et.PkgPath() != "gopkg.in/yaml.v3" {
				walk(where+f.Key+".", et)
			}
		}
	}
	walk("top level: ", reflect.TypeFor[pipelines.Spec]())
	for _, kind := range []stage.Kind{stage.KindConsumer, stage.KindTransformer, stage.KindLoader} {
		for _, name := range stage.Names(kind) {
			reg, _ := stage.Lookup(kind, name)
			walk(fmt.Sprintf("%s %s: ", kind, name), reflect.TypeOf(reg.NewConfig()).Elem())
		}
	}
	if len(all) < 100 {
		t.Fatalf("found %d documented keys; the walk misses the stages", len(all))
	}
	for _, k := range all {
		for _, p := range proseProblems(k.f) {
			t.Errorf("%s: %s", k.where, p)
		}
	}
}

// proseProblems lists what the doc of f claims against its tags.
func proseProblems(f stage.Field) []string {
	var out []string
	doc := f.Doc
	for _, claim := range staleClaims {
		if strings.Contains(strings.ToLower(doc), claim) {
			out = append(out, fmt.Sprintf("the doc says %q, which is no longer true: %s", claim, doc))
		}
	}
	// A key without a default tag gets its default from the constructor, as it depends on other keys
	// ("default 0, or 8 for strings"): the tags cannot say it, so only a tagged default is compared.
	for _, m := range docDefaultRE.FindAllStringSubmatch(doc, -1) {
		if f.HasDefault && m[1] != f.Default {
			out = append(out, fmt.Sprintf("the doc says default %s, the tag says %q", m[1], f.Default))
		}
	}
	if m := docAtLeastRE.FindStringSubmatch(doc); m != nil && m[1] != f.Min {
		out = append(out, fmt.Sprintf("the doc says at least %s, the min tag says %q", m[1], f.Min))
	}
	if m := docAtMostRE.FindStringSubmatch(doc); m != nil && m[1] != f.Max {
		out = append(out, fmt.Sprintf("the doc says at most %s, the max tag says %q", m[1], f.Max))
	}
	// A doc that explains the choices one by one ("sqlite: ...; postgres: ...") explains allowed ones.
	if choices := docChoiceRE.FindAllStringSubmatch(doc, -1); len(f.Enum) > 0 && len(choices) > 1 {
		for _, m := range choices {
			if !slices.Contains(f.Enum, m[1]) {
				out = append(out, fmt.Sprintf("the doc explains a choice %q that the enum tag (%s) does not allow", m[1], strings.Join(f.Enum, ", ")))
			}
		}
	}
	return out
}

// TestProseProblems: each check of TestReferenceProse finds what it is for, and passes a true doc.
func TestProseProblems(t *testing.T) {
	cases := []struct {
		name string
		f    stage.Field
		want string // "" = no problem
	}{
		{"true doc", stage.Field{Doc: "Rows per batch (at least 1). Default 16384.", Default: "16384", HasDefault: true, Min: "1"}, ""},
		{"stale claim", stage.Field{Doc: "Watermarks. Not yet driven by the engine (see README)."}, `the doc says "not yet driven"`},
		{"wrong default", stage.Field{Doc: "Wait (default 30s).", Default: "10s", HasDefault: true}, `the doc says default 30s, the tag says "10s"`},
		{"computed default", stage.Field{Doc: "Partitions. Default 1."}, ""},
		{"wrong min", stage.Field{Doc: "Rows (at least 1).", Min: "0"}, `the doc says at least 1, the min tag says "0"`},
		{"wrong max", stage.Field{Doc: "Retries (at most 100).", Max: "1000"}, `the doc says at most 100, the max tag says "1000"`},
		{"unknown choice", stage.Field{Doc: "sqlite: one file; mysql: a server.", Enum: []string{"sqlite", "postgres"}}, `a choice "mysql"`},
		{"choices that exist", stage.Field{Doc: "sqlite: one file; postgres: shared.", Enum: []string{"sqlite", "postgres"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(proseProblems(tc.f), "\n")
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("problems = %q, want %q", got, tc.want)
			}
		})
	}
}
