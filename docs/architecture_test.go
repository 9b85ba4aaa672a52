package docs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/jetflow-dev/jetflow"

// importRule says which jetflow packages the packages matching Pkg may import. Patterns are module-relative:
// "engine" is that package, "internal/..." that folder and everything below it.
type importRule struct {
	Pkg    []string
	May    []string
	Reason string
}

// stageTree marks the stage packages: besides the rule's list they may import packages of their own stage type's
// folder (consumers/kafka → consumers/kafka/internal/kavro) and their family's internal packages (consumers/internal/...).
const stageTree = "(own folder)"

// importRules are the layering ARCHITECTURE.md describes; the first rule whose Pkg matches a package applies.
var importRules = []importRule{
	{[]string{"stage"}, []string{"internal/suggest"},
		"the contract: everything depends on it, it depends on nothing of ours but the did-you-mean of its messages"},
	{[]string{"arrowtype", "storage", "internal/..."}, []string{"stage", "arrowtype", "internal/..."},
		"shared internals: small, one job each, usable by any stage"},
	{[]string{"loaders/iceberg"}, []string{"stage", "arrowtype", "storage", "internal/...", "transformers/expr", stageTree},
		"a stage, which also evaluates merge's delete_when in filter's expression language"},
	{[]string{"consumers/...", "transformers/...", "loaders/..."},
		[]string{"stage", "arrowtype", "storage", "internal/...", stageTree},
		"stages: the contract and shared internals only — never the engine, the state store, another stage or testkit"},
	{[]string{"state"}, []string{"stage"}, "the state store's interface and records, without a backend"},
	{[]string{"state/stores"}, []string{"state", "state/..."},
		"the one place that links every backend: it opens the store a pipeline's state: section names"},
	{[]string{"state/..."}, []string{"state", "stage", "internal/..."},
		"one backend per package (sqlite, postgres), and statetest, the suite both pass"},
	{[]string{"engine"}, []string{"stage", "state", "internal/..."},
		"runs a job against any stage and any store: knows neither YAML nor a concrete backend"},
	{[]string{"pipelines"}, []string{"stage", "engine", "state", "arrowtype", "internal/..."},
		"YAML → spec → job: stages are found through the registry, never imported"},
	{[]string{"stagetest"}, []string{"stage", "engine", "pipelines", "arrowtype", "internal/..."},
		"the runner of `jetflow test`: product code, so no testkit"},
	{[]string{"metrics"}, []string{"engine"},
		"turns a run's observations (the engine's stage stats and partition results) into Prometheus metrics"},
	{[]string{"builtin"}, []string{"consumers/...", "transformers/...", "loaders/..."}, "links every stage type"},
	{[]string{"ui"}, []string{"stage", "state", "state/stores", "engine", "pipelines", "internal/..."},
		"the read-only pages of `jetflow ui`: pipelines, their state stores and run reports, served or written"},
	{[]string{"cmd/..."}, []string{"..."}, "the binary: anything but testkit (checked below)"},
	{[]string{"testkit/...", "bench/...", "docs"}, []string{"..."}, "tests and benchmarks"},
}

func matches(pattern, pkg string) bool {
	if pattern == "..." {
		return true
	}
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == p || strings.HasPrefix(pkg, p+"/")
	}
	return pkg == pattern
}

// stageRoot is the folder of a stage package's own type: consumers/kafka for consumers/kafka/kavro, transformers
// for transformers/expr.
func stageRoot(pkg string) string {
	parts := strings.Split(pkg, "/")
	if parts[0] == "transformers" || len(parts) < 2 {
		return parts[0]
	}
	return parts[0] + "/" + parts[1]
}

type listedPackage struct {
	Path    string
	Imports []string
}

// listPackages returns every package of the module with its non-test imports of the module, module-relative.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		p := listedPackage{Path: rel(fields[0])}
		for _, imp := range fields[1:] {
			if r := rel(imp); r != imp {
				p.Imports = append(p.Imports, r)
			}
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(importPath string) string {
	if importPath == module {
		return "."
	}
	if r, ok := strings.CutPrefix(importPath, module+"/"); ok {
		return r
	}
	return importPath
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rule := ruleFor(p.Path)
		if rule == nil {
			t.Errorf("package %s matches no import rule: add it to importRules and to ARCHITECTURE.md", p.Path)
			continue
		}
		for _, imp := range p.Imports {
			if !allowed(rule, p.Path, imp) {
				t.Errorf("%s imports %s, which its rule does not allow (%s may import %s: %s)",
					p.Path, imp, strings.Join(rule.Pkg, ", "), mayText(rule), rule.Reason)
			}
			if strings.HasPrefix(imp, "testkit") && !matches("testkit/...", p.Path) && !matches("bench/...", p.Path) {
				t.Errorf("%s imports %s: only tests and benchmarks may use testkit", p.Path, imp)
			}
		}
	}
}

func ruleFor(pkg string) *importRule {
	for i := range importRules {
		for _, pat := range importRules[i].Pkg {
			if matches(pat, pkg) {
				return &importRules[i]
			}
		}
	}
	return nil
}

func allowed(rule *importRule, pkg, imp string) bool {
	for _, pat := range rule.May {
		if pat == stageTree {
			root := stageRoot(pkg)
			family := strings.SplitN(pkg, "/", 2)[0] + "/internal"
			if matches(root+"/...", imp) || matches(family+"/...", imp) {
				return true
			}
			continue
		}
		if matches(pat, imp) {
			return true
		}
	}
	return false
}

func mayText(rule *importRule) string {
	if len(rule.May) == 0 {
		return "nothing of jetflow"
	}
	return strings.Join(rule.May, ", ")
}

// TestBinaryLinksNoTestCode keeps the testing package, and testkit with it, out of the product binary: `jetflow
// test` runs stage tests with product packages (stagetest, internal/records), never with testkit's helpers, whose
// testing import would register test flags and drag the test runtime into the binary.
func TestBinaryLinksNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/cmd/jetflow").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if slices.Contains(fields[1:], "testing") {
			t.Errorf("cmd/jetflow links testing through %s: move what the product needs out of test code", fields[0])
		}
		if strings.HasPrefix(fields[0], module+"/testkit") {
			t.Errorf("cmd/jetflow links %s, a test helper", fields[0])
		}
	}
}

// renderRules is the table of import rules as ARCHITECTURE.md shows it.
func renderRules() string {
	var b strings.Builder
	b.WriteString("| packages | may import (of jetflow) | why |\n|---|---|---|\n")
	code := func(ps []string) string {
		out := make([]string, len(ps))
		for i, p := range ps {
			if p == stageTree || p == "..." {
				out[i] = map[string]string{stageTree: "their own type's folder and their family's `internal/...` (`consumers/internal/sqlsource`)", "...": "anything"}[p]
				continue
			}
			out[i] = "`" + p + "`"
		}
		return strings.Join(out, ", ")
	}
	for _, r := range importRules {
		may := code(r.May)
		if may == "" {
			may = "nothing"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", code(r.Pkg), may, r.Reason)
	}
	return b.String()
}

const (
	rulesBegin = "<!-- import rules: generated by docs/architecture_test.go (go test ./docs -run Architecture -update) -->\n"
	rulesEnd   = "<!-- end of import rules -->\n"
)

// TestArchitectureDocShowsTheRules keeps the table in ARCHITECTURE.md equal to the rules the test enforces, and
// the package list of its layout section equal to the module's packages.
func TestArchitectureDocShowsTheRules(t *testing.T) {
	doc, err := os.ReadFile("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(doc, []byte(rulesBegin)), bytes.Index(doc, []byte(rulesEnd))
	if i < 0 || j < i {
		t.Fatalf("ARCHITECTURE.md lacks the markers %q and %q around the import rules", rulesBegin, rulesEnd)
	}
	want := renderRules()
	got := string(doc[i+len(rulesBegin) : j])
	if got != want {
		if *update {
			doc = slices.Concat(doc[:i+len(rulesBegin)], []byte(want), doc[j:])
			if err := os.WriteFile("ARCHITECTURE.md", doc, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("ARCHITECTURE.md's import rules differ from importRules; run go test ./docs -run Architecture -update\nwant:\n%s", want)
	}
	for _, p := range listPackages(t) {
		if strings.Contains(p.Path, "/cmd/") || strings.HasPrefix(p.Path, "bench/") && p.Path != "bench" {
			continue
		}
		mentioned := false
		for _, form := range []string{p.Path, p.Path + "/...", path.Dir(p.Path) + "/..."} {
			mentioned = mentioned || bytes.Contains(doc, []byte("`"+form+"`"))
		}
		if !mentioned {
			t.Errorf("ARCHITECTURE.md does not mention package %s (as `%s` or under its folder's `.../...`)", p.Path, p.Path)
		}
	}
}
