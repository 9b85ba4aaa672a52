package expr

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/arrowtype"
	_ "github.com/jetflow-dev/jetflow/consumers/generate"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	_ "github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// column returns the text of every value of a column, for compact expectations.
func column(rec arrow.RecordBatch, name string) string {
	if rec == nil {
		return "<dropped>"
	}
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return "<no column " + name + ">"
	}
	col := rec.Column(idx[0])
	parts := make([]string, col.Len())
	for i := range parts {
		parts[i] = testkit.CellText(col, i)
	}
	return strings.Join(parts, " ")
}

func TestFilter(t *testing.T) {
	tests := []struct {
		where string
		rows  [2]int64 // slice of the input batch
		want  string   // column i of the kept rows
	}{
		{"i > 0", [2]int64{0, 4}, "1 10"},
		{"i > 0", [2]int64{1, 4}, "10"},
		{"b", [2]int64{0, 4}, "1 10"},                     // null dropped
		{"b is null or i < 0", [2]int64{0, 4}, "-7 null"}, // a null row kept when asked
		{"status = 'paid'", [2]int64{0, 4}, "1 10"},       // dictionary input
		{"true", [2]int64{0, 4}, "1 -7 null 10"},
		{"true", [2]int64{2, 3}, "null"},
		{"null", [2]int64{0, 4}, "<dropped>"},
		{"false", [2]int64{0, 4}, "<dropped>"},
		{"i > 0", [2]int64{0, 0}, "<dropped>"},
		{"i = 10", [2]int64{3, 4}, "10"},
	}
	for _, tt := range tests {
		t.Run(tt.where+"/"+strconv.FormatInt(tt.rows[0], 10)+"-"+strconv.FormatInt(tt.rows[1], 10), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			full := inputBatch(t, mem)
			defer full.Release()
			in := full.NewSlice(tt.rows[0], tt.rows[1])
			defer in.Release()
			tr, err := NewFilter(mem, tt.where)
			if err != nil {
				t.Fatal(err)
			}
			out, err := tr.OutputSchema(in.Schema())
			if err != nil {
				t.Fatal(err)
			}
			if !out.Equal(in.Schema()) {
				t.Fatalf("OutputSchema changed the schema: %s", out)
			}
			got, err := tr.Transform(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if got != nil {
				defer got.Release()
				if !got.Schema().Equal(out) {
					t.Errorf("batch schema %s differs from OutputSchema %s", got.Schema(), out)
				}
			}
			if s := column(got, "i"); s != tt.want {
				t.Errorf("kept i = %s, want %s", s, tt.want)
			}
		})
	}
}

func TestFilterLarge(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	const n = 300_000
	ib := array.NewInt64Builder(mem)
	sb := array.NewStringBuilder(mem)
	want := 0
	for i := range int64(n) {
		if i%11 == 0 {
			ib.AppendNull()
		} else {
			ib.Append(i)
		}
		sb.Append("k" + strconv.FormatInt(i%7, 10))
		if i%11 != 0 && i%3 == 0 && i%7 != 2 {
			want++
		}
	}
	ia, sa := ib.NewArray(), sb.NewArray()
	ib.Release()
	sb.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: ia.DataType(), Nullable: true}, {Name: "k", Type: sa.DataType()}}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{ia, sa}, n)
	ia.Release()
	sa.Release()
	defer rec.Release()
	tr, err := NewFilter(mem, "id % 3 = 0 and k != 'k2'")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.Transform(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if got.NumRows() != int64(want) {
		t.Errorf("kept %d rows, want %d", got.NumRows(), want)
	}
}

func TestDerive(t *testing.T) {
	tests := []struct {
		name    string
		columns string // YAML, as the columns: key holds it
		schema  string // the output fields after the input's, or the replaced ones: name type
		check   map[string]string
	}{
		{
			name:    "append in YAML order",
			columns: "{z: i * 2, a: upper(s), m: year(ts)}",
			schema:  "z int64, a string, m int32",
			check:   map[string]string{"z": "2 -14 null 20", "a": `"HELLO" "ÀBC" null "  PAD  "`, "m": "2026 1969 null 2024"},
		},
		{
			name:    "replace in place, later sees earlier",
			columns: "{i: 'coalesce(i, 0) + 1', twice: i * 2}", // a comma inside a flow mapping needs quotes
			schema:  "i int64, twice int64",
			check:   map[string]string{"i": "2 -6 1 11", "twice": "4 -12 2 22"},
		},
		{
			name:    "list form",
			columns: "[{name: hashed, expr: \"xxhash64(status)\"}, {name: status, expr: \"lower(status)\"}]",
			schema:  "hashed int64, status string",
			check:   map[string]string{"status": `"paid" "open" null "paid"`},
		},
		{
			name:    "block mapping with a multi-line expression",
			columns: "\n  tier: |\n    case when i > 5 then 'big'\n         else 'small' end\n  pid: partition_id()",
			schema:  "tier string, pid string",
			check:   map[string]string{"tier": `"small" "small" "small" "big"`, "pid": "null null null null"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			in := inputBatch(t, mem)
			defer in.Release()
			var node yaml.Node
			if err := yaml.Unmarshal([]byte(tt.columns), &node); err != nil {
				t.Fatal(err)
			}
			tr, err := newDerive(stage.BuildContext{Alloc: mem}, &DeriveConfig{Columns: node.Content[0]})
			if err != nil {
				t.Fatal(err)
			}
			out, err := tr.OutputSchema(in.Schema())
			if err != nil {
				t.Fatal(err)
			}
			for _, part := range strings.Split(tt.schema, ", ") {
				name, typ, _ := strings.Cut(part, " ")
				idx := out.FieldIndices(name)
				if len(idx) != 1 || arrowtype.Format(out.Field(idx[0]).Type) != typ {
					t.Errorf("output schema %s: want %s %s", out, name, typ)
				}
			}
			// Replaced columns keep their place; new ones come after the input's, in the order written.
			if got, want := out.Field(0).Name, "i"; got != want {
				t.Errorf("first field %s, want %s", got, want)
			}
			for _, sl := range [][2]int64{{0, 4}, {1, 3}, {0, 0}} {
				batch := in.NewSlice(sl[0], sl[1])
				got, err := tr.Transform(context.Background(), batch)
				batch.Release()
				if err != nil {
					t.Fatal(err)
				}
				if !got.Schema().Equal(out) {
					t.Errorf("batch schema %s differs from OutputSchema %s", got.Schema(), out)
				}
				if sl == [2]int64{0, 4} {
					for name, want := range tt.check {
						if s := column(got, name); s != want {
							t.Errorf("%s = %s, want %s", name, s, want)
						}
					}
				}
				got.Release()
			}
		})
	}
}

func TestPartitionConstants(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	in := inputBatch(t, mem)
	defer in.Release()
	base, err := NewDerive(mem, []Column{{Name: "ri", Expr: "run_instance()"}, {Name: "pid", Expr: "partition_id()"}, {Name: "late", Expr: "now() > ts"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.OutputSchema(in.Schema()); err != nil {
		t.Fatal(err)
	}
	p := testkit.PartitionFor("id[0,10)")
	p.ID = "abc123"
	inst, err := base.ForPartition(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := inst.Transform(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	want := map[string]string{"ri": strings.Repeat(strconv.Quote(p.Run.Label)+" ", 3) + strconv.Quote(p.Run.Label), "pid": `"abc123" "abc123" "abc123" "abc123"`, "late": "true true null true"}
	for name, w := range want {
		if s := column(got, name); s != w {
			t.Errorf("%s = %s, want %s", name, s, w)
		}
	}
	// Without partition constants every partition shares the one instance.
	plain, err := NewFilter(mem, "i > 0")
	if err != nil {
		t.Fatal(err)
	}
	if same, err := plain.ForPartition(p); err != nil || same != stage.Transformer(plain) {
		t.Errorf("ForPartition of a filter without constants = %v, %v; want the filter itself", same, err)
	}
}

// TestPipeline loads whole pipelines through the real loader: the filter and derive keys, and error positions a
// user sees from `jetflow validate`.
func TestPipeline(t *testing.T) {
	const head = "name: t\nconsumer:\n  type: generate\n  rows: 10\n  columns:\n    - {name: id, type: int64, sequence: true}\n    - {name: status, type: string}\n    - {name: at, type: \"timestamp[us, UTC]\"}\ntransformers:\n"
	tests := []struct {
		name, transformers string
		wantSchema         string // after the last transformer
		wantErr            string
	}{
		{
			name:         "ok",
			transformers: "  - type: filter\n    where: id % 2 = 0 and status is not null\n  - type: derive\n    columns:\n      day: date_trunc('day', at)\n      key: sha256(concat(status, '/', id))\n",
			wantSchema:   "id: int64, status: string, at: timestamp[us, UTC], day: timestamp[us, UTC], key: string",
		},
		{
			name:         "unknown function",
			transformers: "  - type: filter\n    where: lowr(status) = 'x'\n",
			wantErr:      `t.yaml:11:12: transformers[0].where: unknown function "lowr"; did you mean lower?`,
		},
		{
			name:         "type error",
			transformers: "  - type: derive\n    columns:\n      n: id + status\n",
			// At the column's own line: the loader records positions inside raw *yaml.Node configs.
			wantErr: `t.yaml:12:13: transformers[0].columns.n: operator + wants numbers, got int64 + string`,
		},
		{
			name:         "not a condition",
			transformers: "  - type: filter\n    where: id + 1\n",
			wantErr:      `t.yaml:11:12: transformers[0].where: want a boolean condition, got an expression of type int64`,
		},
		{
			name:         "derived twice",
			transformers: "  - type: derive\n    columns: [{name: a, expr: '1'}, {name: a, expr: '2'}]\n",
			wantErr:      `transformers[0].columns[1]: column "a" is derived twice; combine the two expressions`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := head + tt.transformers + "loaders: [{type: parquet, path: " + strconv.Quote(t.TempDir()) + "}]\n"
			p, err := pipelines.Options{}.Parse("t.yaml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			b, err := p.Build(stage.BuildContext{Alloc: mem})
			var schemas []*arrow.Schema
			if err == nil {
				schemas, err = p.Validate(context.Background(), b, false)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			last := schemas[len(schemas)-1]
			var parts []string
			for _, f := range last.Fields() {
				parts = append(parts, f.Name+": "+arrowtype.Format(f.Type))
			}
			if got := strings.Join(parts, ", "); got != tt.wantSchema {
				t.Errorf("schema\n got %s\nwant %s", got, tt.wantSchema)
			}
		})
	}
}
