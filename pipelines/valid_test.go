package pipelines

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

func parse(t *testing.T, src string) *Pipeline {
	t.Helper()
	p, err := Options{LookupEnv: lookupTestEnv}.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse:\n%v", err)
	}
	return p
}

func TestDecodeValid(t *testing.T) {
	ratio := 0.5
	tests := []struct {
		name    string
		src     string
		wantSrc testSrcConfig
		check   func(t *testing.T, p *Pipeline)
	}{{
		name: "defaults applied",
		src:  "name: orders\nconsumer: {type: testsrc, columns: [{name: id}]}\nloaders: [{type: testsink, dir: out}]\n",
		wantSrc: testSrcConfig{Columns: []testColumn{{Name: "id", Type: "int64"}}, Rows: 10,
			Every: stage.Duration(time.Hour), MaxSize: 64 << 20, Known: true, Mode: "fast", Shards: 1},
		check: func(t *testing.T, p *Pipeline) {
			want := Spec{Name: "orders",
				RunInstance: RunInstanceSpec{Every: stage.Duration(24 * time.Hour), Timezone: "UTC"},
				Retries:     RetrySpec{Attempts: 3, Backoff: stage.Duration(time.Second), MaxBackoff: stage.Duration(time.Minute)},
				State:       StateSpec{Type: "sqlite", Path: ".jetflow/state.db", Schema: "jetflow"}}
			got := p.Spec
			got.Consumer, got.Loaders = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("spec %+v, want %+v", got, want)
			}
			sink := p.Loaders[0].Config.(*testSinkConfig)
			if sink.Format != "csv" || sink.Dir != "out" {
				t.Errorf("sink config %+v", sink)
			}
			if p.Location != time.UTC {
				t.Errorf("location %v", p.Location)
			}
		},
	}, {
		name: "every kind of value, env expansion and $$",
		src: `name: orders
run_instance: {every: 1h, timezone: Europe/Paris}
retries: {attempts: 5, backoff: 2s, max_backoff: 30s}
state: {type: postgres, dsn: "${SECRET_TOKEN}"}
consumer:
  type: testsrc
  name: src
  columns: [{name: id}, {name: "t", type: string}]
  rows: ${ROWS}
  every: 1d12h
  max_size: 1GiB
  token: tok_${EMPTY:-abc}
  known: false
  mode: careful
  labels: {team: "cost $$5", owner: "${UNSET:-nobody}"}
  ratio: 0.5
  shards: 0x10
  extra: {any: [thing, 1]}
  note: "$literal and $${NOT_A_VAR}"
loaders: [{type: testsink, dir: "${OUT}/x"}]
`,
		wantSrc: testSrcConfig{Columns: []testColumn{{Name: "id", Type: "int64"}, {Name: "t", Type: "string"}}, Rows: 25,
			Every: stage.Duration(36 * time.Hour), MaxSize: 1 << 30, Token: "tok_abc", Known: false, Mode: "careful",
			Labels: map[string]string{"team": "cost $5", "owner": "nobody"}, Ratio: &ratio, Shards: 16,
			Note: "$literal and ${NOT_A_VAR}"},
		check: func(t *testing.T, p *Pipeline) {
			if p.Consumer.Name != "src" || p.Loaders[0].Name != "testsink" {
				t.Errorf("names %q %q", p.Consumer.Name, p.Loaders[0].Name)
			}
			if p.State.DSN.Reveal() != "hunter2-very-secret" || p.Retries.Attempts != 5 {
				t.Errorf("state %+v retries %+v", p.State, p.Retries)
			}
			if got := p.Loaders[0].Config.(*testSinkConfig).Dir; got != "/data/out/x" {
				t.Errorf("dir %q", got)
			}
			if p.Location.String() != "Europe/Paris" {
				t.Errorf("location %v", p.Location)
			}
		},
	}, {
		name: "stage names: repeated types are numbered, explicit names kept",
		src: `name: orders
consumer: {type: testsrc, columns: [{name: id}]}
transformers: [{type: testmap}, {type: testmap, name: testmap#2}, {type: testmap}]
loaders: [{type: testsink, dir: a}, {type: testsink, dir: b}]
`,
		wantSrc: testSrcConfig{Columns: []testColumn{{Name: "id", Type: "int64"}}, Rows: 10,
			Every: stage.Duration(time.Hour), MaxSize: 64 << 20, Known: true, Mode: "fast", Shards: 1},
		check: func(t *testing.T, p *Pipeline) {
			var names []string
			for _, st := range p.Stages() {
				names = append(names, st.Name)
			}
			if got := strings.Join(names, ","); got != "testsrc,testmap,testmap#2,testmap#3,testsink,testsink#2" {
				t.Errorf("names %s", got)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parse(t, tt.src)
			got := *p.Consumer.Config.(*testSrcConfig)
			got.Extra = nil
			if !reflect.DeepEqual(got, tt.wantSrc) {
				t.Errorf("consumer config\n got %+v\nwant %+v", got, tt.wantSrc)
			}
			tt.check(t, p)
		})
	}
}

// TestBuildValidate runs a valid pipeline through Build and Validate, and reads a partition through it.
func TestBuildValidate(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p := parse(t, `name: orders
consumer: {type: testsrc, rows: 3, columns: [{name: id}, {name: tenant, type: string}]}
transformers: [{type: testmap, drop: [tenant]}]
loaders: [{type: testsink, dir: out, partition_by: [id]}]
`)
	b, err := p.Build(stage.BuildContext{Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	if b.SourceName != "testsrc" || len(b.Transformers) != 1 || b.LoaderNames[0] != "testsink" {
		t.Fatalf("built %+v", b)
	}
	schemas, err := p.Validate(context.Background(), b, false)
	if err != nil || len(b.Notes) != 0 {
		t.Fatalf("validate: %v %v", err, b.Notes)
	}
	if len(schemas) != 2 || schemas[0].NumFields() != 2 || schemas[1].NumFields() != 1 {
		t.Fatalf("schemas %v", schemas)
	}
	var rows int64
	err = b.Source.(stage.Consumer).Read(context.Background(), stage.Partition{}, func(rec arrow.RecordBatch) error {
		out, err := b.Transformers[0].Transform(context.Background(), rec)
		if err != nil {
			return err
		}
		defer out.Release()
		if !out.Schema().Equal(schemas[1]) {
			t.Errorf("transform schema %v, want %v", out.Schema(), schemas[1])
		}
		rows += out.NumRows()
		return nil
	})
	if err != nil || rows != 3 {
		t.Fatalf("read: %v, %d rows", err, rows)
	}
}

// TestValidateConnect: a schema only known at the source stops checking (a note, no error) unless connect.
func TestValidateConnect(t *testing.T) {
	p := parse(t, `name: orders
consumer: {type: testsrc, known: false, columns: [{name: id}]}
loaders: [{type: testsink, dir: out, partition_by: [region]}]
`)
	for _, connect := range []bool{false, true} {
		b, err := p.Build(stage.BuildContext{})
		if err != nil {
			t.Fatal(err)
		}
		schemas, err := p.Validate(context.Background(), b, connect)
		if !connect {
			want := `test.yaml:2:18: note: consumer (testsrc): the schema is only known at the source, so checking stops here; validate --connect would read it and check the rest`
			if err != nil || schemas != nil || b.Notes.Error() != want {
				t.Errorf("connect=false: %v %v %q", err, schemas, b.Notes.Error())
			}
			continue
		}
		if err == nil || err.Error() != `test.yaml:3:53: loaders[0].partition_by[0]: no column "region" in the schema` {
			t.Errorf("connect=true: %v", err)
		}
	}
}
