package kafka

import (
	"sync"

	"github.com/klauspost/compress/s2"
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

// GetDecompressBytes sizes the slice as the batch will need: a snappy batch says its decoded length in its
// header (one varint); for the other codecs it guesses four times the compressed size, and franz-go grows the
// slice if not and puts the grown one back. A wrong guess costs twice: the pooled slice is dropped, and the codec
// allocates its own (JSON compresses about twelve times with snappy, so four was wrong for every batch).
func (p *RecordPools) GetDecompressBytes(compressed []byte, codec kgo.CompressionCodecType) []byte {
	n := 4 * len(compressed)
	if codec == kgo.CodecSnappy {
		// Bounded, so a batch whose header claims gigabytes allocates nothing for it here: franz-go checks the
		// claim against its own limit before decoding.
		if l, err := s2.DecodedLen(compressed); err == nil && l <= 64*len(compressed) {
			n = max(n, l)
		}
	}
	if v, ok := p.bytes.Get().(*[]byte); ok && cap(*v) >= n {
		return (*v)[:0]
	}
	return make([]byte, 0, n)
}

func (p *RecordPools) PutDecompressBytes(b []byte) { p.bytes.Put(&b) }
