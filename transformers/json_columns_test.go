package transformers

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// json columns (Arrow's json extension on utf8, what the PostgreSQL consumer makes of json and jsonb) pass
// through the column transformers, are the text json_extract parses and dedupe keys on, cast to and from
// strings, and the transformers that work on characters refuse them with an error that says to cast.
func TestJSONColumns(t *testing.T) {
	const jsonType = "extension<arrow.json[storage_type=utf8]>"
	cases := []struct {
		cfg     string
		col     string // the output column to check
		want    string // its Arrow type and values
		wantErr string
	}{
		{cfg: "{type: select, columns: [j]}", col: "j", want: jsonType + ` [{"a":1},null,{"a":2},{"a":1}]`},
		{cfg: "{type: rename, columns: {j: k}}", col: "k", want: jsonType + ` [{"a":1},null,{"a":2},{"a":1}]`},
		{cfg: "{type: cast, columns: {j: string}}", col: "j", want: `utf8 ["{\"a\":1}" (null) "{\"a\":2}" "{\"a\":1}"]`},
		{cfg: "{type: cast, columns: {j: large_string}}", col: "j", want: `large_utf8 ["{\"a\":1}" (null) "{\"a\":2}" "{\"a\":1}"]`},
		{cfg: "{type: cast, columns: {s: json}}", wantErr: `column "s", row 2: cannot parse "nope" as json: not a JSON value`},
		{cfg: "{type: cast, safe: false, columns: {s: json}}", col: "s", want: jsonType + ` [[1],null,null,{}]`},
		{cfg: "{type: cast, columns: {j: json}}", col: "j", want: jsonType + ` [{"a":1},null,{"a":2},{"a":1}]`},
		{cfg: "{type: cast, columns: {j: int64}}", wantErr: `"j"`},
		{cfg: "{type: dedupe, keys: [j]}", col: "j", want: jsonType + ` [{"a":1},null,{"a":2}]`},
		{cfg: "{type: json_extract, column: j, fields: [{name: a, type: int64}]}", col: "a", want: `int64 [1 (null) 2 1]`},
		{cfg: "{type: mask, columns: [j]}", wantErr: `column "j" is extension<arrow.json[storage_type=utf8]>`},
		{cfg: "{type: hash, columns: [j]}", wantErr: `column "j" is extension<arrow.json[storage_type=utf8]>; hash takes string, binary or integer columns: cast it to string first`},
		{cfg: "{type: schema, extra: drop, columns: [{name: j, type: string}]}", col: "j", want: `utf8 ["{\"a\":1}" (null) "{\"a\":2}" "{\"a\":1}"]`},
		{cfg: "{type: schema, extra: drop, columns: [{name: j, type: json}]}", col: "j", want: jsonType + ` [{"a":1},null,{"a":2},{"a":1}]`},
	}
	for _, tc := range cases {
		t.Run(tc.cfg, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			strs := func(vals []string, valid []bool) arrow.Array {
				sb := array.NewStringBuilder(mem)
				defer sb.Release()
				sb.AppendValues(vals, valid)
				return sb.NewArray()
			}
			js := strs([]string{`{"a":1}`, "", `{"a":2}`, `{"a":1}`}, []bool{true, false, true, true})
			defer js.Release()
			j := array.NewExtensionArrayWithStorage(arrowtype.JSON(), js)
			defer j.Release()
			s := strs([]string{`[1]`, "", `nope`, `{}`}, []bool{true, false, true, true})
			defer s.Release()
			sc := arrow.NewSchema([]arrow.Field{{Name: "j", Type: j.DataType(), Nullable: true},
				{Name: "s", Type: s.DataType(), Nullable: true}}, nil)
			in := array.NewRecordBatch(sc, []arrow.Array{j, s}, 4)
			defer in.Release()

			checkColumnCase(t, mem, in, tc.cfg, tc.col, tc.want, tc.wantErr)
		})
	}
}

// checkColumnCase runs the transformer of cfg on in and checks output column col's type and values (want, as
// "type values"), or that it fails with an error containing wantErr.
func checkColumnCase(t *testing.T, mem memory.Allocator, in arrow.RecordBatch, cfg, col, want, wantErr string) {
	t.Helper()
	tr, err := build(t, mem, cfg)
	if pt, ok := tr.(stage.PartitionTransformer); ok && err == nil {
		tr, err = pt.ForPartition(testkit.PartitionFor("p"))
	}
	if err == nil {
		_, err = tr.OutputSchema(in.Schema())
	}
	var out arrow.RecordBatch
	if err == nil {
		out, err = tr.Transform(context.Background(), in)
	}
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want one containing %q", err, wantErr)
		}
		if out != nil {
			out.Release()
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	c := out.Column(out.Schema().FieldIndices(col)[0])
	if got := c.DataType().String() + " " + c.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
