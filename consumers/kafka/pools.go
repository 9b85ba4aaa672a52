package kafka

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RecordPools lends franz-go the slices it decodes fetched records into (kgo.PoolRecords) and decompresses
// batches into (kgo.PoolDecompressBytes). The consumer copies every record into Arrow and recycles it at once
// (kgo.Record.Recycle), so each fetch reuses the memory of earlier ones: without them, every record is a new
// pointer-holding allocation the garbage collector scans, which cost more CPU than franz-go's own decoding. One
// per consumer, shared by its clients.
type RecordPools struct {
	recs  sync.Pool // *[]kgo.Record
	bytes sync.Pool // *[]byte
}

var (
	_ kgo.PoolRecords         = (*RecordPools)(nil)
	_ kgo.PoolDecompressBytes = (*RecordPools)(nil)
)

func (p *RecordPools) GetRecords(n int) []kgo.Record {
	if v, ok := p.recs.Get().(*[]kgo.Record); ok && cap(*v) >= n {
		return (*v)[:0]
	}
	return make([]kgo.Record, 0, n)
}

func (p *RecordPools) PutRecords(s []kgo.Record) { p.recs.Put(&s) }

// GetDecompressBytes guesses a batch decompresses to four times its size; franz-go grows the slice if not, and
// puts the grown one back.
func (p *RecordPools) GetDecompressBytes(compressed []byte, _ kgo.CompressionCodecType) []byte {
	if v, ok := p.bytes.Get().(*[]byte); ok && cap(*v) >= 4*len(compressed) {
		return (*v)[:0]
	}
	return make([]byte, 0, 4*len(compressed))
}

func (p *RecordPools) PutDecompressBytes(b []byte) { p.bytes.Put(&b) }
