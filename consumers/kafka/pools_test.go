package kafka

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDecompressBytesSized checks that a snappy batch gets a slice as large as its header says it decodes to (a
// smaller one would be dropped and the codec would allocate its own), within a bound, and that other codecs and
// headers out of bounds get the guess.
func TestDecompressBytesSized(t *testing.T) {
	plain := bytes.Repeat([]byte(`{"id": 1, "status": "shipped"} `), 4000)
	snappy := s2.EncodeSnappy(nil, plain)
	lying := append(binary.AppendUvarint(nil, 1<<40), snappy[binary.PutUvarint(make([]byte, 10), uint64(len(plain))):]...) // claims a terabyte
	tests := []struct {
		name       string
		compressed []byte
		codec      kgo.CompressionCodecType
		want       int
	}{
		{"snappy: its decoded length", snappy, kgo.CodecSnappy, len(plain)},
		{"snappy header out of bounds: the guess", lying, kgo.CodecSnappy, 4 * len(lying)},
		{"lz4: the guess", snappy, kgo.CodecLz4, 4 * len(snappy)},
		{"not snappy at all: the guess", []byte{0xff, 0xff}, kgo.CodecSnappy, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p RecordPools
			if got := cap(p.GetDecompressBytes(tc.compressed, tc.codec)); got != tc.want {
				t.Fatalf("capacity %d, want %d", got, tc.want)
			}
		})
	}
	if len(plain) <= 4*len(snappy) {
		t.Fatalf("the test wants a batch that decodes to over four times its size: %d from %d", len(plain), len(snappy))
	}
}
