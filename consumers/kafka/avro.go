package kafka

import (
	"encoding/binary"
	"errors"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/jetflow-dev/jetflow/consumers/kafka/internal/kavro"
)

// avroResolved decodes one message body v written with schema id, resolved against the reader's schema once per
// id and batcher.
func (b *batcher) avroResolved(id uint32, v []byte) error {
	res := b.last
	if res == nil || res.ID != id {
		res = b.resolved[id]
		if res == nil {
			w, err := b.reg.writer(b.ctx, id)
			if err != nil {
				b.nullValue()
				return err
			}
			res = b.reader.Resolve(w)
			b.resolved[id] = res
		}
		b.last = res
	}
	return res.Decode(v)
}

// keyDecoder decodes Confluent-framed Avro keys (key_format: avro) into the kafka_key column: each key with the
// writer's schema its id names, resolved against the reader's schema of the keys as values are.
type keyDecoder struct {
	key      *kavro.Key
	b        array.Builder
	resolved map[uint32]*kavro.KeyResolved
	last     *kavro.KeyResolved
}

// setKeyRegistry makes the batcher decode keys as Avro through its registry (set by setRegistry), with reader's
// schema text.
func (b *batcher) setKeyRegistry(text string) error {
	k, err := kavro.NewKey(text, b.keyB)
	if err != nil {
		return err
	}
	if b.key != nil { // a string or bytes key schema: still Avro-encoded, into the column's builder
		b.own[b.keyAt].Release()
		b.own[b.keyAt], b.key = nil, nil
	}
	b.keyAvro = &keyDecoder{key: k, b: b.keyB, resolved: map[uint32]*kavro.KeyResolved{}}
	return nil
}

// decode appends key k (not nil); on error it has still appended exactly one value.
func (d *keyDecoder) decode(b *batcher, k []byte) error {
	if len(k) < 5 || k[0] != 0 {
		d.b.AppendNull()
		return errors.New("the key does not start with the Confluent header (a zero byte and a 4-byte schema id)")
	}
	id := binary.BigEndian.Uint32(k[1:5])
	res := d.last
	if res == nil || res.ID != id {
		res = d.resolved[id]
		if res == nil {
			w, err := b.reg.writer(b.ctx, id)
			if err != nil {
				d.b.AppendNull()
				return err
			}
			res = d.key.Resolve(w)
			d.resolved[id] = res
		}
		d.last = res
	}
	return res.Decode(k[5:])
}
