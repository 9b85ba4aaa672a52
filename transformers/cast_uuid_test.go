package transformers

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"

	"github.com/jetflow-dev/jetflow/internal/offheap"
)

// uuid columns (Arrow's uuid extension, what the PostgreSQL and ClickHouse consumers make of UUIDs) pass
// through the column transformers, cast to and from text and bytes, and are dedupe keys.
func TestUUIDColumns(t *testing.T) {
	const id = "01234567-89ab-cdef-0123-456789abcdef"
	cases := []struct {
		cfg     string
		col     string // the output column to check
		want    string // its Arrow type and values
		wantErr string
	}{
		{cfg: "{type: select, columns: [u]}", col: "u", want: `extension<arrow.uuid> ["01234567-89ab-cdef-0123-456789abcdef" (null) "00000000-0000-0000-0000-000000000000" "01234567-89ab-cdef-0123-456789abcdef"]`},
		{cfg: "{type: rename, columns: {u: v}}", col: "v", want: `extension<arrow.uuid> ["01234567-89ab-cdef-0123-456789abcdef" (null) "00000000-0000-0000-0000-000000000000" "01234567-89ab-cdef-0123-456789abcdef"]`},
		{cfg: "{type: cast, columns: {u: string}}", col: "u", want: `utf8 ["01234567-89ab-cdef-0123-456789abcdef" (null) "00000000-0000-0000-0000-000000000000" "01234567-89ab-cdef-0123-456789abcdef"]`},
		{cfg: "{type: cast, columns: {u: large_string}}", col: "u", want: `large_utf8 ["01234567-89ab-cdef-0123-456789abcdef" (null) "00000000-0000-0000-0000-000000000000" "01234567-89ab-cdef-0123-456789abcdef"]`},
		{cfg: "{type: cast, columns: {u: binary}}", col: "u", want: `binary ["\x01#Eg\x89\xab\xcd\xef\x01#Eg\x89\xab\xcd\xef" (null) "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" "\x01#Eg\x89\xab\xcd\xef\x01#Eg\x89\xab\xcd\xef"]`},
		{cfg: "{type: cast, columns: {u: fixed_size_binary(16)}}", col: "u", want: `fixed_size_binary[16] ["\x01#Eg\x89\xab\xcd\xef\x01#Eg\x89\xab\xcd\xef" (null) "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" "\x01#Eg\x89\xab\xcd\xef\x01#Eg\x89\xab\xcd\xef"]`},
		{cfg: "{type: cast, columns: {b: uuid}}", col: "b", want: `extension<arrow.uuid> ["01234567-89ab-cdef-0123-456789abcdef" (null) "00000000-0000-0000-0000-000000000000" "01234567-89ab-cdef-0123-456789abcdef"]`},
		{cfg: "{type: cast, columns: {s: uuid}}", wantErr: `column "s", row 2: cannot parse "nope" as uuid`},
		{cfg: "{type: cast, safe: false, columns: {s: uuid}}", col: "s", want: `extension<arrow.uuid> ["01234567-89ab-cdef-0123-456789abcdef" (null) (null) "01234567-89ab-cdef-0123-456789abcdef"]`},
		{cfg: "{type: schema, extra: drop, columns: [{name: u, type: string}]}", col: "u", want: `utf8 ["01234567-89ab-cdef-0123-456789abcdef" (null) "00000000-0000-0000-0000-000000000000" "01234567-89ab-cdef-0123-456789abcdef"]`},
		{cfg: "{type: cast, columns: {u: int64}}", wantErr: `"u"`},
		{cfg: "{type: dedupe, keys: [u]}", col: "u", want: `extension<arrow.uuid> ["01234567-89ab-cdef-0123-456789abcdef" (null) "00000000-0000-0000-0000-000000000000"]`},
	}
	for _, tc := range cases {
		t.Run(tc.cfg, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			ub := extensions.NewUUIDBuilder(mem)
			defer ub.Release()
			ub.Append(uuid.MustParse(id))
			ub.AppendNull()
			ub.Append(uuid.UUID{})
			ub.Append(uuid.MustParse(id))
			u := ub.NewArray()
			defer u.Release()
			bb := array.NewFixedSizeBinaryBuilder(mem, uuidStorage)
			defer bb.Release()
			bb.AppendValues([][]byte{u.(*extensions.UUIDArray).Storage().(*array.FixedSizeBinary).Value(0), nil, make([]byte, 16), u.(*extensions.UUIDArray).Storage().(*array.FixedSizeBinary).Value(0)}, []bool{true, false, true, true})
			b := bb.NewArray()
			defer b.Release()
			sb := array.NewStringBuilder(mem)
			defer sb.Release()
			sb.AppendValues([]string{"{" + id + "}", "", "nope", "urn:uuid:" + id}, []bool{true, false, true, true})
			s := sb.NewArray()
			defer s.Release()
			sc := arrow.NewSchema([]arrow.Field{{Name: "u", Type: u.DataType(), Nullable: true},
				{Name: "b", Type: b.DataType(), Nullable: true}, {Name: "s", Type: s.DataType(), Nullable: true}}, nil)
			in := array.NewRecordBatch(sc, []arrow.Array{u, b, s}, 4)
			defer in.Release()

			checkColumnCase(t, mem, in, tc.cfg, tc.col, tc.want, tc.wantErr)
		})
	}
}
