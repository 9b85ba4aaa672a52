package generate

import "github.com/jetflow-dev/jetflow/stage"

// Config is the `generate` consumer's YAML config.
type Config struct {
	Seed      int64           `yaml:"seed" default:"1" doc:"Seed of the pseudo-random generator: the same seed, columns and bounds give the same rows, byte for byte."`
	Rows      int64           `yaml:"rows" doc:"Rows per run instance in bounded mode. Required unless unbounded is set."`
	BatchRows int             `yaml:"batch_rows" default:"65536" min:"1" doc:"Rows per Arrow batch (at least 1). With a rate, batches are also at most a tenth of a second's rows."`
	Columns   []Column        `yaml:"columns" required:"true" doc:"The columns to generate, in order."`
	Partition PartitionConfig `yaml:"partition" doc:"How a run instance is cut into partitions (bounded mode)."`
	Unbounded *StreamConfig   `yaml:"unbounded" doc:"Generate without end (for 'jetflow run --stream'), cutting partitions by the roll policy."`
}

// Column declares one generated column.
type Column struct {
	Name     string   `yaml:"name" required:"true" doc:"Column name."`
	Type     string   `yaml:"type" required:"true" doc:"Arrow type, written as in the type reference: int64, float64, bool, string, binary, decimal(18,4), date32, timestamp[us, UTC], list<int32>, struct<a: int64, b: string>."`
	NullRate float64  `yaml:"null_rate" doc:"Share of nulls, from 0 to 1, drawn per row. A column with null_rate 0 is declared non-nullable. Values nested inside a column are never null."`
	Min      *float64 `yaml:"min" doc:"Smallest value. Integers, floats, decimals: the value (default: the type's whole range; floats 0 to 1000; decimals any value of the precision). timestamp, date: seconds since the epoch (default: the run instance's [start, end), else 2020 to 2030). time, duration: seconds (default: 0 to a day). string, binary: shortest length (default 8 to 24). list, map: fewest items (default 0 to 4). dictionary: applies to its values. Nested values always use the defaults."`
	Max      *float64 `yaml:"max" doc:"Largest value (included), read as min."`
	Distinct int      `yaml:"distinct" doc:"Draw the column's values from this many distinct values (0: no limit); for a dictionary column, the dictionary's size (default 16)."`
	Sequence bool     `yaml:"sequence" doc:"Integer columns: the global row number plus min (default 0) instead of a random value; a unique key. In unbounded mode it wraps around at the type's end."`
}

// PartitionConfig cuts a bounded run instance into row ranges.
type PartitionConfig struct {
	Rows  int64 `yaml:"rows" min:"0" doc:"Rows per partition; the last one may be shorter."`
	Count int   `yaml:"count" min:"0" doc:"Number of partitions of (nearly) equal size; used when rows is not set. Default 1."`
}

// StreamConfig makes the generator unbounded.
type StreamConfig struct {
	Rate int64      `yaml:"rate" min:"0" doc:"Rows per second at most (0: as fast as the pipeline takes them)."`
	Roll RollConfig `yaml:"roll" doc:"When a stream partition is cut: whichever limit is reached first."`
}

// RollConfig says when a stream partition ends.
type RollConfig struct {
	Rows     int64          `yaml:"rows" default:"1000000" min:"0" doc:"Rows per stream partition at most (0: no row limit)."`
	Bytes    stage.ByteSize `yaml:"bytes" default:"128MiB" min:"0" doc:"Arrow buffer bytes per stream partition: the partition ends after the batch that reaches it (0: no byte limit)."`
	Interval stage.Duration `yaml:"interval" default:"60s" min:"0" doc:"Time a stream partition stays open at most (0: no time limit). A partition always holds at least one batch."`
}
