package stagetest_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	_ "github.com/jetflow-dev/jetflow/builtin" // the stage types the test pipelines use
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stagetest"
	"github.com/jetflow-dev/jetflow/testkit"
)

// basePipeline has a declared source schema (id int64 not null, name string not null) and three transformers.
const basePipeline = `name: people
consumer:
  name: src
  type: generate
  rows: 4
  partition: { rows: 2 }
  columns:
    - { name: id, type: int64, sequence: true }
    - { name: name, type: string, min: 3, max: 3 }
transformers:
  - { name: upper, type: derive, columns: { name: upper(name) } }
  - { name: big, type: filter, where: "id > 1" }
  - { name: named, type: rename, columns: { id: person_id } }
loaders:
  - { name: out, type: parquet, path: out/people }
`

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runFiles loads a pipeline and its sibling test file from dir and runs them with a checked allocator.
func runFiles(t *testing.T, dir string, opts stagetest.Options) stagetest.Report {
	t.Helper()
	ps, err := pipelines.LoadPaths(dir)
	if err != nil {
		t.Fatalf("loading %s: %v", dir, err)
	}
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	opts.Alloc, opts.TempDir = mem, t.TempDir()
	return stagetest.Run(context.Background(), ps, opts)
}

func TestCases(t *testing.T) {
	tests := []struct {
		name   string
		cases  string // the content of people.test.yaml
		status stagetest.Status
		want   []string // substrings of the Diff (Fail) or Err (Error)
	}{
		{"transformer rows pass", `
- name: c
  stages: upper
  input: { rows: [{ id: 1, name: ann }] }
  expect: { rows: [{ id: 1, name: ANN }] }
`, stagetest.Pass, nil},
		{"wrong rows fail with row, column, want, got", `
- name: c
  stages: upper
  input: { rows: [{ id: 1, name: ann }, { id: 2, name: bob }] }
  expect: { rows: [{ id: 1, name: ANN }, { id: 2, name: BOX }] }
`, stagetest.Fail, []string{`row 1, column "name": want "BOX", got "BOB"`}},
		{"row count differs", `
- name: c
  stages: big
  input: { rows: [{ id: 1, name: a }, { id: 2, name: b }] }
  expect: { rows: [] }
`, stagetest.Fail, []string{"rows: want 0, got 1"}},
		{"default range is every transformer", `
- name: c
  input: { rows: [{ id: 1, name: a }, { id: 2, name: b }] }
  expect: { rows: [{ person_id: 2, name: B }] }
`, stagetest.Pass, nil},
		{"from-to range", `
- name: c
  stages: { from: big, to: named }
  input: { rows: [{ id: 1, name: a }, { id: 2, name: b }] }
  expect: { rows: [{ person_id: 2, name: b }] }
`, stagetest.Pass, nil},
		{"input schema given", `
- name: c
  stages: named
  input: { schema: { id: int32, extra: bool }, rows: [{ id: 7, extra: true }] }
  expect: { rows: [{ person_id: 7, extra: true }], schema: { person_id: int32, extra: bool } }
`, stagetest.Pass, nil},
		{"schema expectation passes", `
- name: c
  stages: named
  input: { rows: [] }
  expect: { schema: { person_id: int64 not null, name: string } }
`, stagetest.Pass, nil},
		{"schema expectation fails", `
- name: c
  stages: named
  input: { rows: [] }
  expect: { schema: { person_id: int32, nickname: string } }
`, stagetest.Fail, []string{`column "person_id": want int32, got int64 not null`, `column "nickname": missing`, `column "name": not expected`}},
		{"error expectation matches", `
- name: c
  stages: upper
  input: { schema: { id: int64, name: int64 }, rows: [{ id: 1, name: 2 }] }
  expect: { error: "upper" }
`, stagetest.Pass, nil},
		{"error expectation without an error fails", `
- name: c
  stages: upper
  input: { rows: [{ id: 1, name: a }] }
  expect: { error: "boom" }
`, stagetest.Fail, []string{`want an error containing "boom", got 1 rows and no error`}},
		{"an unexpected error fails", `
- name: c
  stages: upper
  input: { schema: { id: int64, name: int64 }, rows: [{ id: 1, name: 2 }] }
  expect: { rows: [] }
`, stagetest.Fail, []string{"want rows, got an error", "upper"}},
		{"unordered rows with sort_by", `
- name: c
  stages: named
  sort_by: [person_id]
  input: { rows: [{ id: 2, name: b }, { id: 1, name: a }] }
  expect: { rows: [{ person_id: 1, name: a }, { person_id: 2, name: b }] }
`, stagetest.Pass, nil},
		{"consumer partition", `
- name: c
  stages: src
  partition: { key: "rows[2,4)" }
  expect: { schema: { id: int64 not null, name: string not null } }
`, stagetest.Pass, nil},
		{"consumer partition that does not exist", `
- name: c
  stages: src
  partition: { key: "rows[9,10)" }
  expect: { rows: [] }
`, stagetest.Error, []string{`people.test.yaml:2:3: no partition has key "rows[9,10)"; the keys are rows[0,2), rows[2,4)`}},
		{"loader writes and reads back", `
- name: c
  stages: out
  input: { rows: [{ person_id: 1, name: A }, { person_id: 2, name: null }] }
  expect: { rows: [{ person_id: 1, name: A }, { person_id: 2, name: null }] }
`, stagetest.Pass, nil},
		{"unknown stage", `
- name: c
  stages: uper
  input: { rows: [] }
  expect: { rows: [] }
`, stagetest.Error, []string{`people.test.yaml:3:3: stages: no stage named "uper" in pipeline people; its stages are src, upper, big, named, out`}},
		{"input row key not in the schema", `
- name: c
  stages: upper
  input:
    rows:
      - { id: 1, nmae: a }
` + "  expect: { rows: [] }\n", stagetest.Error, []string{`people.test.yaml:6:18: input.rows: column "nmae" is not in the schema (id: int64, name: utf8)`}},
		{"timestamps with or without a zone", `
- name: c
  stages: named
  input:
    schema: { id: int64, at: "timestamp[us, UTC]", naive: "timestamp[ms]" }
    rows:
      - { id: 1, at: 2026-11-22T10:00:00, naive: 2026-11-22T10:00:00Z }
      - { id: 2, at: "2026-11-22 10:00:00+02:00", naive: "2026-11-22 10:00:00.5" }
  expect:
    rows:
      - { person_id: 1, at: 2026-11-22T10:00:00Z, naive: 2026-11-22T10:00:00 }
      - { person_id: 2, at: 2026-11-22T08:00:00Z, naive: 2026-11-22T10:00:00.500 }
`, stagetest.Pass, nil},
		{"a timestamp off by a second is shown", `
- name: c
  stages: named
  input:
    schema: { id: int64, at: "timestamp[us, UTC]" }
    rows: [{ id: 1, at: 2026-11-22T10:00:00 }]
  expect:
    rows: [{ person_id: 1, at: 2026-11-22T10:00:01 }]
`, stagetest.Fail, []string{`row 0, column "at": want 2026-11-22T10:00:01Z, got 2026-11-22T10:00:00Z`}},
		{"null in a column declared not null", `
- name: c
  stages: upper
  input:
    rows:
      - { id: 1, name: a }
      - { id: null, name: b }
  expect: { rows: [] }
`, stagetest.Error, []string{`people.test.yaml:7:9: input.rows[1]: column "id" is null, but the schema arriving at the stage declares it not null`}},
		{"JSON fixture", `
- name: c
  stages: upper
  input: { file: rows.json }
  expect: { rows: [{ id: 1, name: X }, { id: 2, name: null }] }
`, stagetest.Pass, nil},
		{"NDJSON fixture", `
- name: c
  stages: upper
  input: { file: rows.jsonl }
  expect: { rows: [{ id: 1, name: X }, { id: 2, name: null }] }
`, stagetest.Pass, nil},
		{"Parquet fixture in and out", `
- name: c
  stages: named
  input: { file: in.parquet }
  expect: { file: want.parquet }
`, stagetest.Pass, nil},
		{"missing fixture", `
- name: c
  stages: upper
  input: { file: nope.csv }
  expect: { rows: [] }
`, stagetest.Error, []string{"people.test.yaml:4:18: input.file:", "nope.csv"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "people.yaml", basePipeline)
			write(t, dir, "people.test.yaml", tc.cases)
			write(t, dir, "rows.json", `[{"id": 1, "name": "x"}, {"id": 2, "name": null}]`)
			write(t, dir, "rows.jsonl", "{\"id\": 1, \"name\": \"x\"}\n{\"id\": 2}\n")
			writeParquet(t, filepath.Join(dir, "in.parquet"), basePipelineSchema(), `[{"id": 5, "name": "e"}]`)
			writeParquet(t, filepath.Join(dir, "want.parquet"), arrow.NewSchema([]arrow.Field{
				{Name: "person_id", Type: arrow.PrimitiveTypes.Int64}, {Name: "name", Type: arrow.BinaryTypes.String}}, nil),
				`[{"person_id": 5, "name": "e"}]`)
			rep := runFiles(t, dir, stagetest.Options{})
			if len(rep.Invalid) > 0 {
				t.Fatalf("invalid cases: %v", rep.Invalid)
			}
			if len(rep.Results) != 1 {
				t.Fatalf("got %d results, want 1", len(rep.Results))
			}
			r := rep.Results[0]
			text := r.Diff
			if r.Err != nil {
				text = r.Err.Error()
			}
			if r.Status != tc.status {
				t.Fatalf("status %s, want %s: %s", r.Status, tc.status, text)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("report lacks %q:\n%s", w, text)
				}
			}
			if tc.status == stagetest.Pass && text != "" {
				t.Errorf("a passing case has a report: %s", text)
			}
		})
	}
}

func basePipelineSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "name", Type: arrow.BinaryTypes.String}}, nil)
}

func writeParquet(t *testing.T, path string, schema *arrow.Schema, rows string) {
	t.Helper()
	rec := testkit.Records(t, memory.NewGoAllocator(), schema, rows)
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidCasesArePositioned(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                []string
	}{
		{"unknown key", "people.test.yaml", `
- name: c
  stage: upper
  expect: { rows: [] }
`, []string{`people.test.yaml:3:3: test file[0]: unknown key "stage"`}},
		{"bad type in schema", "people.test.yaml", `
- name: c
  input: { schema: { id: int6 }, rows: [] }
  expect: { rows: [] }
`, []string{`people.test.yaml:3:26: test file[0].input.schema.id: invalid type "int6"`}},
		{"no expect", "people.test.yaml", `
- name: c
  input: { rows: [] }
`, []string{`people.test.yaml:2:3: test file[0]: the case has no expect`}},
		{"two expectations", "people.test.yaml", `
- name: c
  input: { rows: [] }
  expect: { rows: [], error: x }
`, []string{`people.test.yaml:4:11: test file[0].expect: expect one of`}},
		{"duplicate names", "people.test.yaml", `
- { name: c, input: { rows: [] }, expect: { rows: [] } }
- { name: c, input: { rows: [] }, expect: { rows: [] } }
`, []string{`people.test.yaml:3:3: test file[1]: a case named "c" is already defined at line 2`}},
		{"not a list", "people.test.yaml", "name: c\n", []string{`people.test.yaml:1:1: test file: want a list of test cases`}},
		{"YAML syntax", "people.test.yaml", "- name: c\n  expect: [c\n", []string{`people.test.yaml:1: YAML syntax:`}},
		{"inside the pipeline file", "people.yaml", basePipeline + `tests:
  - name: c
    input: { rows: [] }
    expect: { rows: [], bogus: 1 }
`, []string{`people.yaml:19:25: tests[0].expect: unknown key "bogus"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "people.yaml", basePipeline)
			write(t, dir, tc.file, tc.content)
			rep := runFiles(t, dir, stagetest.Options{})
			got := rep.Invalid.Error()
			for _, w := range tc.want {
				if !strings.Contains(got, filepath.Join(dir, w)) && !strings.Contains(got, w) {
					t.Errorf("errors lack %q:\n%s", w, got)
				}
			}
			if len(rep.Invalid) == 0 {
				t.Errorf("no error reported")
			}
			if rep.OK() {
				t.Errorf("report is OK with invalid cases")
			}
		})
	}
}

func TestRunFilter(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "people.yaml", basePipeline)
	write(t, dir, "people.test.yaml", `
- { name: upper one, stages: upper, input: { rows: [] }, expect: { rows: [] } }
- { name: upper two, stages: upper, input: { rows: [] }, expect: { rows: [] } }
- { name: rename, stages: named, input: { rows: [] }, expect: { rows: [] } }
`)
	tests := []struct {
		re   string
		want []string
	}{
		{"", []string{"people/upper one", "people/upper two", "people/rename"}},
		{"upper", []string{"people/upper one", "people/upper two"}},
		{"^people/rename$", []string{"people/rename"}},
		{"^other/", nil},
	}
	for _, tc := range tests {
		t.Run(tc.re, func(t *testing.T) {
			var opts stagetest.Options
			if tc.re != "" {
				opts.Run = regexp.MustCompile(tc.re)
			}
			rep := runFiles(t, dir, opts)
			var got []string
			for _, r := range rep.Results {
				got = append(got, r.ID())
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("ran %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUpdateRewritesThenPasses(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "people.yaml", basePipeline)
	testFile := write(t, dir, "people.test.yaml", `# kept: a comment at the top
- name: stale
  stages: { from: upper, to: named }
  input:
    schema: { id: int64, name: string }
    rows:
      - { id: 1, name: ann }
      - { id: 2, name: bob }
      - { id: 3, name: null }
  expect:
    rows:
      - { person_id: 9, name: WRONG }

# kept: a comment between cases
- name: fresh
  stages: upper
  input: { rows: [{ id: 1, name: a }] }
  expect:
    rows:
      - { id: 1, name: A }   # kept: a comment in an untouched case
- name: empty expectation
  stages: src
  partition: { key: "rows[0,2)" }
  expect:
    rows: []
`)
	before := runFiles(t, dir, stagetest.Options{})
	if before.Count(stagetest.Fail) != 2 || before.Count(stagetest.Pass) != 1 {
		t.Fatalf("before the update: %d passed, %d failed, want 1 and 2", before.Count(stagetest.Pass), before.Count(stagetest.Fail))
	}
	upd := runFiles(t, dir, stagetest.Options{Update: true})
	if !upd.OK() {
		t.Fatalf("update run not OK: %+v", upd)
	}
	updated := 0
	for _, r := range upd.Results {
		if r.Updated {
			updated++
		}
	}
	if updated != 2 {
		t.Errorf("%d cases updated, want 2", updated)
	}
	data, err := os.ReadFile(testFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, w := range []string{
		"# kept: a comment at the top", "# kept: a comment between cases", "# kept: a comment in an untouched case",
		"      - {person_id: 2, name: BOB}\n      - {person_id: 3, name: null}\n\n",
		"  stages: src\n  partition: { key: \"rows[0,2)\" }\n  expect:\n    rows:\n      - {id: 0, name:",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("the updated file lacks %q:\n%s", w, text)
		}
	}
	after := runFiles(t, dir, stagetest.Options{})
	if !after.OK() || len(after.Results) != 3 {
		t.Errorf("after the update: %d of %d passed, invalid %v", after.Count(stagetest.Pass), len(after.Results), after.Invalid)
	}
}

func TestUpdateLeavesPipelineFilesAlone(t *testing.T) {
	dir := t.TempDir()
	content := basePipeline + `tests:
  - name: stale
    stages: upper
    input: { rows: [{ id: 1, name: a }] }
    expect: { rows: [{ id: 1, name: Z }] }
`
	file := write(t, dir, "people.yaml", content)
	rep := runFiles(t, dir, stagetest.Options{Update: true})
	if rep.Count(stagetest.Fail) != 1 {
		t.Errorf("a stale case in the pipeline file should still fail under --update: %+v", rep.Results)
	}
	if data, _ := os.ReadFile(file); string(data) != content {
		t.Errorf("--update changed the pipeline file")
	}
}

const apiPipeline = `name: api
consumer:
  name: src
  type: httpapi
  url: https://api.example.com/v1/items
  records: items
  pagination: { type: page, limit: 1 }
  schema:
    - { name: id, type: int64 }
transformers:
  - { name: keep, type: select, columns: [id] }
loaders:
  - { name: out, type: parquet, path: out/api }
`

func TestServeRecordedResponses(t *testing.T) {
	tests := []struct {
		name   string
		cases  string
		status stagetest.Status
		want   []string
	}{
		{"pages served in order", `
- name: c
  stages: src
  serve:
    /v1/items: one.json
    /v1/items?page=2: two.json
    /v1/items?page=3: empty.json
  expect: { rows: [{ id: 1 }, { id: 2 }] }
`, stagetest.Pass, nil},
		{"a wrong expectation fails", `
- name: c
  stages: src
  serve:
    /v1/items: one.json
    /v1/items?page=2: two.json
    /v1/items?page=3: empty.json
  expect: { rows: [{ id: 1 }, { id: 3 }] }
`, stagetest.Fail, []string{`row 1, column "id": want 3, got 2`}},
		{"a request without a response is named", `
- name: c
  stages: src
  serve:
    /v1/items?page=1: one.json
  expect: { rows: [] }
`, stagetest.Error, []string{"people.test.yaml:5:23: serve: the consumer asked for /v1/items?limit=1&page=2, which serve: has no response"}},
		{"a missing fixture is named", `
- name: c
  stages: src
  serve: { /v1/items: nope.json }
  expect: { rows: [] }
`, stagetest.Error, []string{"people.test.yaml:4:23: serve:", "nope.json"}},
		{"serve on a transformer case", `
- name: c
  stages: keep
  serve: { /v1/items: one.json }
  input: { rows: [] }
  expect: { rows: [] }
`, stagetest.Error, []string{"serve: recorded responses are for a case on the consumer (stages: src)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "people.yaml", apiPipeline)
			write(t, dir, "people.test.yaml", tc.cases)
			write(t, dir, "one.json", `{"items": [{"id": 1}]}`)
			write(t, dir, "two.json", `{"items": [{"id": 2}]}`)
			write(t, dir, "empty.json", `{"items": []}`)
			rep := runFiles(t, dir, stagetest.Options{})
			if len(rep.Invalid) > 0 || len(rep.Results) != 1 {
				t.Fatalf("invalid %v, %d results", rep.Invalid, len(rep.Results))
			}
			r := rep.Results[0]
			text := r.Diff
			if r.Err != nil {
				text = r.Err.Error()
			}
			if r.Status != tc.status {
				t.Fatalf("status %s, want %s: %s", r.Status, tc.status, text)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("report lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

// TestPartitionStateDoesNotLeak: each case runs as a partition of its own, as the engine runs partitions, so a
// stateful transformer starts afresh and gives back what it holds at Flush.
func TestPartitionStateDoesNotLeak(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "d.yaml", `name: d
consumer:
  type: generate
  rows: 1
  columns: [{ name: id, type: int64 }, { name: v, type: string }]
transformers:
  - { name: latest, type: dedupe, keys: [id], keep: last }
  - { name: keep, type: select, columns: [v] }
loaders: [{ type: parquet, path: out }]
tests:
  - name: first
    input: { rows: [{ id: 1, v: a }, { id: 1, v: b }] }
    expect: { rows: [{ v: b }] }
  - name: second
    input: { rows: [{ id: 1, v: c }] }
    expect: { rows: [{ v: c }] }
`)
	rep := runFiles(t, dir, stagetest.Options{})
	if !rep.OK() || len(rep.Results) != 2 {
		t.Fatalf("want 2 passing cases, got %+v (invalid %v)", rep.Results, rep.Invalid)
	}
}

// TestUpdateGoldenFiles: --update writes an expected-output fixture that is missing or stale, in its own format,
// and the next run reads it back equal.
func TestUpdateGoldenFiles(t *testing.T) {
	for _, ext := range []string{"parquet", "csv", "json", "jsonl"} {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "people.yaml", basePipeline)
			cases := func(name string) string {
				return `
- name: c
  stages: upper
  input:
    schema: { id: int64, name: string, at: "timestamp[us, UTC]", amount: "decimal(9,2)" }
    rows:
      - { id: 1, name: ` + name + `, at: 2026-11-22T10:00:00.25Z, amount: 12.50 }
      - { id: 2, name: null, at: null, amount: null }
  expect: { file: golden/want.` + ext + ` }
`
			}
			write(t, dir, "people.test.yaml", cases("ann"))
			if err := os.MkdirAll(filepath.Join(dir, "golden"), 0o755); err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				name     string
				update   bool
				names    string
				status   stagetest.Status
				updated  bool
				wantDiff string
			}{
				{"missing golden is an error", false, "ann", stagetest.Error, false, ""},
				{"update writes it", true, "ann", stagetest.Pass, true, ""},
				{"then it passes", false, "ann", stagetest.Pass, false, ""},
				{"a change fails against it", false, "bob", stagetest.Fail, false, `row 0, column "name": want "ANN", got "BOB"`},
				{"update rewrites it", true, "bob", stagetest.Pass, true, ""},
				{"then it passes again", false, "bob", stagetest.Pass, false, ""},
			}
			for _, st := range steps {
				write(t, dir, "people.test.yaml", cases(st.names))
				rep := runFiles(t, dir, stagetest.Options{Update: st.update})
				if len(rep.Results) != 1 || len(rep.Invalid) > 0 {
					t.Fatalf("%s: results %+v, invalid %v", st.name, rep.Results, rep.Invalid)
				}
				r := rep.Results[0]
				if r.Status != st.status || r.Updated != st.updated || !strings.Contains(r.Diff, st.wantDiff) {
					t.Fatalf("%s: status %s updated %v, want %s %v; diff %q, err %v", st.name, r.Status, r.Updated, st.status, st.updated, r.Diff, r.Err)
				}
			}
		})
	}
}

// TestUpdateFlowStyleRewritesTheFile: rows inside a flow mapping cannot be cut out by lines, so --update writes the
// whole file again; the comments stay and the case passes afterwards.
func TestUpdateFlowStyleRewritesTheFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "people.yaml", basePipeline)
	file := write(t, dir, "people.test.yaml", `# kept
- { name: c, stages: upper, input: { rows: [{ id: 1, name: ann }] }, expect: { rows: [{ id: 1, name: X }] } }
`)
	if rep := runFiles(t, dir, stagetest.Options{Update: true}); !rep.OK() {
		t.Fatalf("update: %+v %v", rep.Results, rep.Invalid)
	}
	data, _ := os.ReadFile(file)
	if !strings.Contains(string(data), "# kept") || !strings.Contains(string(data), "ANN") {
		t.Errorf("rewritten file:\n%s", data)
	}
	if rep := runFiles(t, dir, stagetest.Options{}); !rep.OK() || len(rep.Results) != 1 {
		t.Errorf("after update: %+v %v\n%s", rep.Results, rep.Invalid, data)
	}
}
