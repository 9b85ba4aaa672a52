package transformers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

// MetadataConfig is the `metadata` transformer's YAML config. Each key names the column that receives one
// property of the partition; an empty name leaves that column out.
type MetadataConfig struct {
	RunInstance  string `yaml:"run_instance" default:"_run_instance" doc:"Column for the run instance label (string, such as 2026-11-22); empty to leave it out."`
	PartitionID  string `yaml:"partition_id" default:"_partition_id" doc:"Column for the partition id (string), the same id the loaders commit under; empty to leave it out."`
	LoadedAt     string `yaml:"loaded_at" default:"_loaded_at" doc:"Column for the time the partition started being transformed (timestamp[us, UTC]; one value per partition, so a retry gets a new one); empty to leave it out."`
	PartitionKey string `yaml:"partition_key" doc:"Column for the partition's bounds as text (string, such as id[0,100000)); empty (the default) to leave it out."`
	Pipeline     string `yaml:"pipeline" doc:"Column for the pipeline's name (string); empty (the default) to leave it out."`
}

func init() {
	stage.RegisterTransformer("metadata", "Appends columns that say where each row comes from: the run instance, the partition id and key, the pipeline, and when it was loaded. Each value is the same for every row of a partition.",
		func(bc stage.BuildContext, c *MetadataConfig) (stage.Transformer, error) {
			m := &metadata{mem: bc.Alloc, pipeline: bc.Pipeline, now: time.Now}
			add := func(key, name string, dt arrow.DataType, kind metaKind) error {
				if name == "" {
					return nil
				}
				for _, col := range m.cols {
					if col.field.Name == name {
						return stage.FieldErrorf(key, "column %q is already used for another metadata column; give each its own name", name)
					}
				}
				m.cols = append(m.cols, metaCol{key: key, kind: kind, field: arrow.Field{Name: name, Type: dt}})
				return nil
			}
			err := errors.Join(
				add("run_instance", c.RunInstance, arrow.BinaryTypes.String, metaRunInstance),
				add("partition_id", c.PartitionID, arrow.BinaryTypes.String, metaPartitionID),
				add("loaded_at", c.LoadedAt, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, metaLoadedAt),
				add("partition_key", c.PartitionKey, arrow.BinaryTypes.String, metaPartitionKey),
				add("pipeline", c.Pipeline, arrow.BinaryTypes.String, metaPipeline),
			)
			if err != nil {
				return nil, err
			}
			if len(m.cols) == 0 {
				return nil, stage.FieldErrorf("", "every metadata column is switched off; name at least one (run_instance, partition_id, loaded_at, partition_key, pipeline) or remove the stage")
			}
			return m, nil
		})
}

type metaKind int

const (
	metaRunInstance metaKind = iota
	metaPartitionID
	metaLoadedAt
	metaPartitionKey
	metaPipeline
)

type metaCol struct {
	key   string
	kind  metaKind
	field arrow.Field
}

// metadata is the stage as built; ForPartition gives the instance that knows the partition's values.
type metadata struct {
	mem      memory.Allocator
	pipeline string
	now      func() time.Time // replaced in tests
	cols     []metaCol
}

func (m *metadata) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	fields := in.Fields()
	for _, c := range m.cols {
		if in.HasField(c.field.Name) {
			return nil, stage.FieldErrorf(c.key, "the input already has a column %q; choose another name for this metadata column, or drop or rename the input's", c.field.Name)
		}
		fields = append(fields, c.field)
	}
	md := in.Metadata()
	return arrow.NewSchema(fields, &md), nil
}

func (m *metadata) Transform(context.Context, arrow.RecordBatch) (arrow.RecordBatch, error) {
	return nil, errors.New("metadata: the stage needs its partition: the engine must call ForPartition and use the instance it returns")
}

func (m *metadata) ForPartition(p stage.Partition) (stage.Transformer, error) {
	inst := &metadataInstance{m: m, strs: make([]string, len(m.cols)), loaded: m.now().UTC().UnixMicro()}
	for i, c := range m.cols {
		switch c.kind {
		case metaRunInstance:
			inst.strs[i] = p.Run.Label
		case metaPartitionID:
			inst.strs[i] = p.ID
		case metaPartitionKey:
			inst.strs[i] = p.Key
		case metaPipeline:
			inst.strs[i] = m.pipeline
		}
	}
	return inst, nil
}

// metadataInstance adds one partition's constant columns. It keeps no state that changes, so the engine may run
// it on batches of its partition from any goroutine.
type metadataInstance struct {
	m      *metadata
	strs   []string // the value of each string column, by index in m.cols
	loaded int64    // microseconds since the epoch, UTC
}

func (mi *metadataInstance) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	return mi.m.OutputSchema(in)
}

func (mi *metadataInstance) Transform(_ context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	schema, err := mi.m.OutputSchema(batch.Schema())
	if err != nil {
		return nil, err
	}
	n := int(batch.NumRows())
	cols := make([]arrow.Array, 0, schema.NumFields())
	for i := range int(batch.NumCols()) {
		cols = append(cols, batch.Column(i))
	}
	added := make([]arrow.Array, len(mi.m.cols))
	defer releaseAll(added)
	for i, c := range mi.m.cols {
		if c.kind == metaLoadedAt {
			added[i] = constTimestamp(mi.m.mem, c.field.Type, mi.loaded, n)
		} else {
			if int64(len(mi.strs[i]))*int64(n) > math.MaxInt32 {
				return nil, fmt.Errorf("metadata column %q: %d rows of %q exceed a string column's 2 GiB; make the consumer's batches smaller", c.field.Name, n, mi.strs[i])
			}
			added[i] = constString(mi.m.mem, mi.strs[i], n)
		}
		cols = append(cols, added[i])
	}
	return array.NewRecordBatch(schema, cols, int64(n)), nil
}

// constString builds a string array holding s n times, straight into its offset and data buffers.
func constString(mem memory.Allocator, s string, n int) arrow.Array {
	offsets := memory.NewResizableBuffer(mem)
	offsets.Resize(arrow.Int32Traits.BytesRequired(n + 1))
	offs := arrow.Int32Traits.CastFromBytes(offsets.Bytes())
	data := memory.NewResizableBuffer(mem)
	data.Resize(len(s) * n)
	buf := data.Bytes()
	for i := range n + 1 {
		offs[i] = int32(i * len(s))
	}
	// s once, then the filled part doubled: a few long copies rather than one short copy per row.
	for filled := copy(buf, s); filled < len(buf); {
		filled += copy(buf[filled:], buf[:filled])
	}
	d := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{nil, offsets, data}, nil, 0, 0)
	offsets.Release()
	data.Release()
	defer d.Release()
	return array.MakeFromData(d)
}

// constTimestamp builds a timestamp array holding v n times.
func constTimestamp(mem memory.Allocator, dt arrow.DataType, v int64, n int) arrow.Array {
	values := memory.NewResizableBuffer(mem)
	values.Resize(arrow.Int64Traits.BytesRequired(n))
	vs := arrow.Int64Traits.CastFromBytes(values.Bytes())
	for i := range vs {
		vs[i] = v
	}
	d := array.NewData(dt, n, []*memory.Buffer{nil, values}, nil, 0, 0)
	values.Release()
	defer d.Release()
	return array.MakeFromData(d)
}
