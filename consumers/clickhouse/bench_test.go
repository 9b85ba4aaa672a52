package clickhouse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/testkit"
)

// benchNative encodes blocks × rows of the bench table's 14 columns (bench/clickhouse) as a Native stream.
func benchNative(tb testing.TB, blocks, rows int) []byte {
	tb.Helper()
	var (
		id     proto.ColUInt64
		n      proto.ColInt32
		small  proto.ColInt8
		qty    proto.ColUInt16
		price  proto.ColFloat64
		ratio  proto.ColFloat32
		name   proto.ColStr
		code   proto.ColFixedStr
		day    proto.ColDate
		at     proto.ColDateTime
		amount proto.ColDecimal64
		uid    proto.ColUUID
		city   = new(proto.ColStr).LowCardinality()
		note   = new(proto.ColStr).Nullable()
	)
	code.SetSize(8)
	var buf proto.Buffer
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for blk := 0; blk < blocks; blk++ {
		for _, c := range []proto.Column{&id, &n, &small, &qty, &price, &ratio, &name, &code, &day, &at, &amount, &uid, city, note} {
			c.Reset()
		}
		for r := 0; r < rows; r++ {
			i := blk*rows + r
			id.Append(uint64(i))
			n.Append(int32(i % 1000000))
			small.Append(int8(i % 100))
			qty.Append(uint16(i % 60000))
			price.Append(float64(i) / 7)
			ratio.Append(float32(i) / 3)
			name.Append("name-" + itoa(i))
			code.Append([]byte(itoa(10000000 + i%90000000)[:8]))
			day.Append(t0.AddDate(0, 0, i%300))
			at.Append(t0.Add(time.Duration(i) * time.Second))
			amount.Append(proto.Decimal64(i))
			uid = append(uid, [16]byte{byte(i), byte(i >> 8), 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
			city.Append("city-" + itoa(i%50))
			if i%5 == 0 {
				note.Append(proto.Null[string]())
			} else {
				note.Append(proto.NewNullable("note " + itoa(i)))
			}
		}
		input := []proto.InputColumn{
			{Name: "id", Data: &id}, {Name: "n", Data: &n}, {Name: "small", Data: &small}, {Name: "qty", Data: &qty},
			{Name: "price", Data: &price}, {Name: "ratio", Data: &ratio}, {Name: "name", Data: &name},
			{Name: "code", Data: &code}, {Name: "day", Data: &day}, {Name: "at", Data: &at},
			{Name: "amount", Data: proto.Alias(&amount, "Decimal(18, 4)")}, {Name: "uid", Data: &uid},
			{Name: "city", Data: city}, {Name: "note", Data: note},
		}
		b := proto.Block{Columns: len(input), Rows: rows}
		if err := b.EncodeRawBlock(&buf, 0, input); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Buf
}

func itoa(i int) string {
	var b [20]byte
	p := len(b)
	for {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[p:])
		}
	}
}

// The bench stream decodes through the consumer's nodes (buffers recycled by a pool, as in Read) into the 14
// columns, every row; strings outgrow the first guess of their data buffer, dictionaries change per block.
func TestBenchStream(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	pl := newPool(mem)
	defer pl.close()
	data := benchNative(t, 3, 1000)
	var rows int
	schema, err := decodeNative(pl, bytes.NewReader(data), func(r arrow.RecordBatch) error {
		for i := 0; i < int(r.NumRows()); i++ {
			n := rows + i
			cells := []string{testkit.CellText(r.Column(0), i), testkit.CellText(r.Column(6), i),
				testkit.CellText(r.Column(12), i), testkit.CellText(r.Column(13), i)}
			note := `"note ` + itoa(n) + `"`
			if n%5 == 0 {
				note = "null"
			}
			want := []string{itoa(n), `"name-` + itoa(n) + `"`, `"city-` + itoa(n%50) + `"`, note}
			if strings.Join(cells, " ") != strings.Join(want, " ") {
				return fmt.Errorf("row %d: %q, want %q", n, cells, want)
			}
		}
		rows += int(r.NumRows())
		return nil
	})
	if err != nil || rows != 3000 || schema.NumFields() != 14 {
		t.Fatalf("rows %d, schema %v, %v", rows, schema, err)
	}
}

// BenchmarkDecode compares decoding the same Native stream (8 blocks of 65,536 rows × 14 columns) with ch-go
// alone, into the proto columns it infers, and with the consumer's nodes into Arrow arrays. Both read through
// ch-go's proto.Reader from memory, so the difference is the decoding and conversion alone.
func BenchmarkDecode(b *testing.B) {
	const blocks, rows = 8, 65536
	data := benchNative(b, blocks, rows)
	b.Run("ch-go proto columns", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var res proto.Results
			auto := res.Auto()
			r := proto.NewReader(bytes.NewReader(data))
			for {
				var blk proto.Block
				if err := blk.DecodeRawBlock(r, 0, auto); err != nil {
					if errors.Is(err, io.EOF) {
						break
					}
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(blocks*rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("consumer Arrow arrays", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		pl := newPool(memory.DefaultAllocator) // as Read does
		defer pl.close()
		for b.Loop() {
			if _, err := decodeNative(pl, bytes.NewReader(data), func(arrow.RecordBatch) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(blocks*rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
