package transformers

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/jetflow-dev/jetflow/testkit"
)

func TestHashAndMask(t *testing.T) {
	const inSchema = "id: int64, email: string, card: string not null, raw: binary"
	const inRows = `
- {id: 42, email: abc, card: "4111111111111111", raw: "YWJj"}
- {id: null, email: null, card: "", raw: null}
- {id: 7, email: "", card: "héllo wörld", raw: ""}
`
	const (
		sha42    = "73475cb40a568e8da8a045ced110137e159f890ac4da883b6b17dc651b3a8049"
		shaABC   = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
		shaEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
		saltABC  = "fadf7b97406e1eaa259a82e26e6839e564c37c256876e060e17838c86b7275ef"
	)
	cases := []struct {
		name, cfg, wantSchema, wantRows string
		wantErr                         []string
	}{
		{
			name: "sha256", cfg: "{type: hash, columns: [id, email, raw]}",
			wantSchema: "id: string, email: string, card: string not null, raw: string",
			wantRows: fmt.Sprintf(`[{id: %s, email: %s, card: "4111111111111111", raw: %s}, {card: ""},
				{id: %s, email: %s, card: "héllo wörld", raw: %s}]`, sha42, shaABC, shaABC,
				"7902699be42c8a8e46fbbb4501726517e86b22c56a189f7625a6da49081b2451", shaEmpty, shaEmpty),
		},
		{
			name: "sha256 with salt", cfg: "{type: hash, columns: [email], salt: pepper}",
			wantSchema: "id: int64, email: string, card: string not null, raw: binary",
			wantRows:   fmt.Sprintf(`[{id: 42, email: %s, card: "4111111111111111", raw: "YWJj"}, {card: ""}, {id: 7, email: %s, card: "héllo wörld", raw: ""}]`, saltABC, "8cbbcf29d9cef89675c5f5c1dcfe827d0570416a5aaba30dd0de159661ad905b"),
		},
		{
			name: "xxhash64", cfg: "{type: hash, algorithm: xxhash64, columns: [email]}",
			wantSchema: "id: int64, email: int64, card: string not null, raw: binary",
			wantRows:   `[{id: 42, email: 4952883123889572249, card: "4111111111111111", raw: "YWJj"}, {card: ""}, {id: 7, email: -1205034819632174695, card: "héllo wörld", raw: ""}]`,
		},
		{
			// xxhsum -H3 of "pepperabc" and of "pepper".
			name: "xxh3 with salt", cfg: "{type: hash, algorithm: xxh3, columns: [email], salt: pepper}",
			wantSchema: "id: int64, email: int64, card: string not null, raw: binary",
			wantRows:   `[{id: 42, email: -3536309121441480376, card: "4111111111111111", raw: "YWJj"}, {card: ""}, {id: 7, email: -4748682305707614075, card: "héllo wörld", raw: ""}]`,
		},
		{
			name: "xxhash64 of integers hashes their 8 bytes", cfg: "{type: hash, algorithm: xxhash64, columns: [id]}",
			wantSchema: "id: int64, email: string, card: string not null, raw: binary",
			wantRows: fmt.Sprintf(`[{id: %d, email: abc, card: "4111111111111111", raw: "YWJj"}, {card: ""}, {id: %d, email: "", card: "héllo wörld", raw: ""}]`,
				int64(xxhash.Sum64(binary.LittleEndian.AppendUint64(nil, 42))), int64(xxhash.Sum64(binary.LittleEndian.AppendUint64(nil, 7)))),
		},
		{
			name: "mask keeps the last four", cfg: "{type: mask, columns: [card, email], keep_last: 4}",
			wantSchema: "id: int64, email: string, card: string not null, raw: binary",
			wantRows:   `[{id: 42, email: abc, card: "************1111", raw: "YWJj"}, {card: ""}, {id: 7, email: "", card: "*******örld", raw: ""}]`,
		},
		{
			name: "mask with fixed length and first", cfg: "{type: mask, columns: [card], keep_first: 2, length: 3, with: '#'}",
			wantSchema: "id: int64, email: string, card: string not null, raw: binary",
			wantRows:   `[{id: 42, email: abc, card: "41###", raw: "YWJj"}, {card: "###"}, {id: 7, email: "", card: "hé###", raw: ""}]`,
		},
		{name: "hash unknown column", cfg: "{type: hash, columns: [emial]}", wantErr: []string{"columns[0]", `did you mean "email"?`}},
		{name: "mask of a number", cfg: "{type: mask, columns: [id]}", wantErr: []string{`column "id" is int64`, "mask takes string"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runCase(t, inSchema, inRows, tc.cfg, tc.wantErr, tc.wantSchema, tc.wantRows, true)
		})
	}
}

func TestHashLargeBatch(t *testing.T) {
	mem := checkedMem(t)
	var sb strings.Builder
	sb.WriteString("[")
	for i := range 5000 {
		if i > 0 {
			sb.WriteString(",")
		}
		if i%7 == 0 {
			sb.WriteString(`{"id": null}`)
			continue
		}
		fmt.Fprintf(&sb, `{"id": %d}`, i)
	}
	sb.WriteString("]")
	in := testkit.Records(t, mem, schemaOf(t, "id: int64"), sb.String())
	defer in.Release()
	a := run(t, mem, mustBuild(t, mem, "{type: hash, algorithm: xxhash64, columns: [id]}"), in)
	defer a.Release()
	b := run(t, mem, mustBuild(t, mem, "{type: hash, columns: [id]}"), in)
	defer b.Release()
	if a.Column(0).NullN() != in.Column(0).NullN() || b.Column(0).NullN() != in.Column(0).NullN() {
		t.Errorf("nulls: got %d and %d, want %d", a.Column(0).NullN(), b.Column(0).NullN(), in.Column(0).NullN())
	}
	seen := map[string]bool{}
	for i := range b.Column(0).Len() {
		if b.Column(0).IsValid(i) {
			seen[b.Column(0).ValueStr(i)] = true
		}
	}
	if want := 5000 - in.Column(0).NullN(); len(seen) != want {
		t.Errorf("%d distinct sha256 hashes of %d distinct ids", len(seen), want)
	}
}

func TestMetadata(t *testing.T) {
	mem := checkedMem(t)
	in := testkit.RecordsYAML(t, mem, schemaOf(t, "id: int64"), "[{id: 1}, {id: null}, {id: 3}]")
	defer in.Release()
	p := testkit.PartitionFor("p0")
	cases := []struct {
		name, cfg, wantSchema, wantRows string
		wantErr                         []string
	}{
		{
			name: "defaults", cfg: "{type: metadata}",
			wantSchema: "id: int64, _run_instance: string not null, _partition_id: string not null, _loaded_at: timestamp[us, UTC] not null",
			wantRows: fmt.Sprintf(`[{id: 1, _run_instance: "2026-01-01", _partition_id: %s, _loaded_at: "2026-03-04T05:06:07.123456Z"},
				{_run_instance: "2026-01-01", _partition_id: %[1]s, _loaded_at: "2026-03-04T05:06:07.123456Z"},
				{id: 3, _run_instance: "2026-01-01", _partition_id: %[1]s, _loaded_at: "2026-03-04T05:06:07.123456Z"}]`, p.ID),
		},
		{
			name: "chosen columns", cfg: "{type: metadata, run_instance: '', loaded_at: '', partition_id: pid, partition_key: pkey, pipeline: pipe}",
			wantSchema: "id: int64, pid: string not null, pkey: string not null, pipe: string not null",
			wantRows:   fmt.Sprintf(`[{id: 1, pid: %s, pkey: p0, pipe: t}, {pid: %[1]s, pkey: p0, pipe: t}, {id: 3, pid: %[1]s, pkey: p0, pipe: t}]`, p.ID),
		},
		{name: "clash with input", cfg: "{type: metadata, partition_id: id}", wantErr: []string{"partition_id", `already has a column "id"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := checkedMem(t)
			tr := mustBuild(t, mem, tc.cfg)
			tr.(*metadata).now = func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC) }
			in := testkit.RecordsYAML(t, mem, schemaOf(t, "id: int64"), "[{id: 1}, {id: null}, {id: 3}]")
			defer in.Release()
			if tc.wantErr != nil {
				_, err := tryRun(t, mem, tr, in)
				errContains(t, err, tc.wantErr...)
				return
			}
			want := testkit.RecordsYAML(t, mem, schemaOf(t, tc.wantSchema), tc.wantRows)
			defer want.Release()
			checkVariants(t, mem, tr, in, want, true)
		})
	}
	t.Run("without ForPartition", func(t *testing.T) {
		mem := checkedMem(t)
		in := testkit.RecordsYAML(t, mem, schemaOf(t, "id: int64"), "[{id: 1}]")
		defer in.Release()
		_, err := mustBuild(t, mem, "{type: metadata}").Transform(t.Context(), in)
		errContains(t, err, "ForPartition")
	})
	t.Run("nothing named", func(t *testing.T) {
		_, err := build(t, checkedMem(t), "{type: metadata, run_instance: '', loaded_at: '', partition_id: ''}")
		errContains(t, err, "switched off")
	})
}

// TestMaskConfigErrors: the bounds are the tags' (stage.Complete), positioned by the pipeline loader; the rule
// no tag can say stays in the constructor.
func TestMaskConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"{type: mask, columns: [s], keep_first: -1}", "transformers[0].keep_first: want at least 0, got -1"},
		{"{type: mask, columns: [s], length: -2}", "transformers[0].length: want at least 0, got -2"},
		{"{type: mask, columns: [s], with: ab}", `transformers[0].with: want exactly one character, got "ab"`},
		{"{type: mask}", `transformers[0]: missing required key "columns"`},
	} {
		_, err := build(t, checkedMem(t), tc.cfg)
		errContains(t, err, tc.want)
	}
}
