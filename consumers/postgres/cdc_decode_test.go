package postgres

import (
	"encoding/binary"
	"log/slog"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
)

// pgoutput builds pgoutput change messages as the server sends them: 'I'/'U'/'D', the relation id, then tuples.
type pgoutput []byte

func change(typ byte, rel uint32) pgoutput {
	return binary.BigEndian.AppendUint32(pgoutput{typ}, rel)
}

// tuple appends a tuple marker (N, O or K) and a TupleData; a column is nil (n), "\x00u" (unchanged TOAST), a
// string prefixed by "t:" (text) or other bytes (binary).
func (m pgoutput) tuple(kind byte, cols ...[]byte) pgoutput {
	m = binary.BigEndian.AppendUint16(append(m, kind), uint16(len(cols)))
	for _, c := range cols {
		switch {
		case c == nil:
			m = append(m, 'n')
		case string(c) == "\x00u":
			m = append(m, 'u')
		case strings.HasPrefix(string(c), "t:"):
			m = append(binary.BigEndian.AppendUint32(append(m, 't'), uint32(len(c)-2)), c[2:]...)
		default:
			m = append(binary.BigEndian.AppendUint32(append(m, 'b'), uint32(len(c))), c...)
		}
	}
	return m
}

func i8(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// testChangeBatcher is a changeBatcher for a table (id int8, name text, note text) without a server; batches go
// to got.
func testChangeBatcher(t testing.TB, mem memory.Allocator, got *[]arrow.RecordBatch) *changeBatcher {
	types := []*pgType{builtin(oidInt8, -1), builtin(oidText, -1), builtin(oidText, -1)}
	names := []string{"id", "name", "note"}
	var fields []arrow.Field
	for i, typ := range types {
		typ.oid, typ.name = []uint32{oidInt8, oidText, oidText}[i], []string{"int8", "text", "text"}[i]
		fields = append(fields, arrow.Field{Name: names[i], Type: typ.dt, Nullable: true})
	}
	src := &source{schema: arrow.NewSchema(fields, nil), types: types, names: names}
	fields = append(fields,
		arrow.Field{Name: ColOp, Type: arrow.BinaryTypes.String},
		arrow.Field{Name: ColLSN, Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: ColCommitTime, Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true})
	s := &CDC{base: &Consumer{alloc: mem, log: slog.Default(), table: pgx.Identifier{"t"}, src: src, cfg: Config{BatchRows: 4}},
		schema: arrow.NewSchema(fields, nil)}
	return newChangeBatcher(s, func(rec arrow.RecordBatch) error {
		rec.Retain()
		*got = append(*got, rec)
		return nil
	})
}

// rowsOf renders batches' rows as "v|v|...", null as ∅.
func rowsOf(recs []arrow.RecordBatch) []string {
	var rows []string
	for _, rec := range recs {
		for r := range int(rec.NumRows()) {
			var vs []string
			for _, c := range rec.Columns()[:4] { // the table's columns and _op
				v := "∅"
				if c.IsValid(r) {
					v = c.ValueStr(r)
				}
				vs = append(vs, v)
			}
			rows = append(rows, strings.Join(vs, "|"))
		}
	}
	return rows
}

// TestCDCTupleDecoder decodes pgoutput change messages in place into the table's batch: inserts, updates with
// unchanged TOASTed values, deletes, other relations' changes, and messages it must refuse.
func TestCDCTupleDecoder(t *testing.T) {
	t.Parallel()
	const rel = 16384
	identity := []int{0, 1, 2}
	tests := []struct {
		name   string
		msgs   []pgoutput
		cols   []int  // relation column → schema column
		absent []bool // schema columns dropped from the table while streaming
		want   []string
		err    string
	}{
		{name: "insert", msgs: []pgoutput{change('I', rel).tuple('N', i8(1), []byte("a"), nil)},
			want: []string{"1|a|∅|i"}},
		{name: "update with old row", msgs: []pgoutput{change('U', rel).tuple('O', i8(1), []byte("a"), []byte("long")).tuple('N', i8(1), []byte("b"), []byte("\x00u"))},
			want: []string{"1|b|long|u"}},
		{name: "update without old row", msgs: []pgoutput{change('U', rel).tuple('N', i8(2), []byte(""), nil)},
			want: []string{"2||∅|u"}},
		{name: "delete", msgs: []pgoutput{change('D', rel).tuple('O', i8(3), []byte("c"), []byte("x"))},
			want: []string{"3|c|x|d"}},
		{name: "batches of four rows", msgs: []pgoutput{
			change('I', rel).tuple('N', i8(1), []byte("a"), nil), change('I', rel).tuple('N', i8(2), []byte("b"), nil),
			change('I', rel).tuple('N', i8(3), []byte("c"), nil), change('I', rel).tuple('N', i8(4), []byte("d"), nil),
			change('D', rel).tuple('K', i8(1), nil, nil)},
			want: []string{"1|a|∅|i", "2|b|∅|i", "3|c|∅|i", "4|d|∅|i", "1|∅|∅|d"}},
		{name: "another relation", msgs: []pgoutput{change('I', rel+1).tuple('N', i8(1), []byte("a"), nil)}},
		{name: "relation columns in another order, one not read", cols: []int{2, -1, 0, 1},
			msgs: []pgoutput{change('I', rel).tuple('N', []byte("n"), []byte("skipped"), i8(5), []byte("e"))},
			want: []string{"5|e|n|i"}},
		{name: "column dropped while streaming", cols: []int{0, 1}, absent: []bool{false, false, true},
			msgs: []pgoutput{change('I', rel).tuple('N', i8(1), []byte("a")), change('I', rel).tuple('N', i8(2), []byte("b"))},
			want: []string{"1|a|∅|i", "2|b|∅|i"}},
		{name: "TOAST without old row", msgs: []pgoutput{change('U', rel).tuple('N', i8(1), []byte("b"), []byte("\x00u"))},
			err: `left column "note" unchanged (TOAST)`},
		{name: "text value", msgs: []pgoutput{change('I', rel).tuple('N', []byte("t:1"), []byte("a"), nil)},
			err: `column "id" of "t" came as 't', not binary`},
		{name: "column missing", msgs: []pgoutput{change('I', rel).tuple('N', i8(1), []byte("a"))},
			err: `lacks column "note"`},
		{name: "malformed value", msgs: []pgoutput{change('I', rel).tuple('N', []byte{1, 2}, []byte("a"), nil)},
			err: `malformed int8 value of 2 bytes`},
		{name: "length past the end", msgs: []pgoutput{change('I', rel).tuple('N', i8(1), []byte("a"), []byte("xyz"))[:33]},
			err: `malformed I message of 33 bytes: column 2 says 3 bytes, 1 follow`},
		{name: "unknown column kind", msgs: []pgoutput{append(change('I', rel), 'N', 0, 1, 'z')},
			err: `column 0 of unknown kind 'z'`},
		{name: "no tuple", msgs: []pgoutput{append(change('D', rel), 'N', 0, 0)}, err: `malformed D message of 8 bytes: no old tuple`},
		{name: "update without new tuple", msgs: []pgoutput{change('U', rel).tuple('O', i8(1), nil, nil)}, err: `no new tuple`},
		{name: "too short", msgs: []pgoutput{{'I', 0, 0}}, err: `malformed I message of 3 bytes: too short`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			var got []arrow.RecordBatch
			b := testChangeBatcher(t, mem, &got)
			b.absent = tt.absent
			cols := tt.cols
			if cols == nil {
				cols = identity
			}
			var err error
			for _, m := range tt.msgs {
				if _, err = b.decodeChange(m, rel, cols); err != nil {
					break
				}
			}
			switch {
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want one saying %q", err, tt.err)
			case tt.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.err == "":
				if err := b.flush(); err != nil {
					t.Fatal(err)
				}
				for _, rec := range got {
					for i, col := range rec.Columns() {
						if col.Len() != int(rec.NumRows()) {
							t.Errorf("column %d holds %d values for %d rows", i, col.Len(), rec.NumRows())
						}
					}
				}
				if rows := rowsOf(got); strings.Join(rows, "\n") != strings.Join(tt.want, "\n") {
					t.Errorf("rows\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(tt.want, "\n"))
				}
			}
			for _, rec := range got {
				rec.Release()
			}
			b.release()
			mem.AssertSize(t, 0)
		})
	}
}

// FuzzCDCTupleDecoder checks that no change message makes the in-place decoder panic or read past the message,
// and that a message either appends one row (or none, for another relation) or is refused with an error.
func FuzzCDCTupleDecoder(f *testing.F) {
	const rel = 16384
	for _, m := range []pgoutput{
		change('I', rel).tuple('N', i8(1), []byte("a"), nil),
		change('U', rel).tuple('O', i8(1), []byte("a"), []byte("long")).tuple('N', i8(1), []byte("b"), []byte("\x00u")),
		change('U', rel).tuple('K', i8(1), nil, nil).tuple('N', i8(1), []byte("b"), []byte("c")),
		change('D', rel).tuple('O', i8(3), []byte("c"), []byte("x")),
		change('I', rel).tuple('N', []byte("t:1"), []byte("a"), nil),
	} {
		f.Add([]byte(m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !isChange(data) {
			return
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		var got []arrow.RecordBatch
		b := testChangeBatcher(t, mem, &got)
		b.rows = 1 << 20 // no flush: the row count is b.n
		_, err := b.decodeChange(data, rel, []int{0, 1, 2})
		if err == nil && b.n > 1 {
			t.Fatalf("one message, %d rows", b.n)
		}
		if err == nil && b.n == 1 {
			for i, d := range b.decs {
				if d.b.Len() != 1 {
					t.Fatalf("column %d holds %d values after one row", i, d.b.Len())
				}
			}
		}
		b.release()
		mem.AssertSize(t, 0)
	})
}
