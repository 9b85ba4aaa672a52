package postgres

import "github.com/jetflow-dev/jetflow/stage"

// Config is the `postgres` consumer's YAML config.
type Config struct {
	DSN         stage.Secret      `yaml:"dsn" required:"true" doc:"Connection string (URL or key=value), normally from the environment: ${ORDERS_PG_DSN}. Its password never appears in logs or errors."`
	Table       string            `yaml:"table" doc:"Table or view to read, schema-qualified (public.orders) or not (then the search_path finds it). Exactly one of table and query."`
	Query       string            `yaml:"query" doc:"SELECT to read instead of a table. With a partition, {{ .Partition.Lo }} and {{ .Partition.Hi }} stand for the partition's bounds; they are sent as bind parameters ($1, $2), never spliced as text: WHERE updated_at >= {{ .Partition.Lo }} AND updated_at < {{ .Partition.Hi }}."`
	Columns     []string          `yaml:"columns" doc:"Columns of table to read, in order (default: every column). Names are quoted as given."`
	Partition   PartitionConfig   `yaml:"partition" doc:"How a run instance is cut into partitions. Default: one partition holding the whole table or query."`
	Incremental IncrementalConfig `yaml:"incremental" doc:"Read only the rows after the watermark the last run committed. Needs table:. The engine keeps the watermark in the state store, pins each run's range until all its partitions commit, and moves the watermark on only after a complete run."`
	Snapshot    string            `yaml:"snapshot" default:"none" enum:"none,export" doc:"export: a first connection exports a snapshot (pg_export_snapshot, in a REPEATABLE READ transaction kept open until the run ends) and every partition reads in it (SET TRANSACTION SNAPSHOT), so parallel partitions of a changing table see one consistent state, as pg_dump -j does. none: each partition reads the latest committed state."`
	Infinity    string            `yaml:"infinity" default:"error" enum:"error,null,clamp" doc:"What a date or timestamp of +/-infinity becomes: error (the read fails, naming the column), null, or clamp (0001-01-01 and 9999-12-31 23:59:59.999999)."`
	ReadMode    string            `yaml:"read_mode" default:"extended" enum:"extended,copy" doc:"How rows travel: extended (a SELECT through the extended protocol, binary result format) or copy (COPY (SELECT ...) TO STDOUT (FORMAT binary)). Both decode the same binary values; extended measured faster here (see README)."`
	CDC         *CDCConfig        `yaml:"cdc" doc:"Change capture (run with --stream): an initial load of table on the snapshot a new logical replication slot exports, then every insert, update and delete from the slot (pgoutput) as rows with _op, _lsn and _commit_time, for an iceberg loader with mode: merge. One table per pipeline. See docs/CDC.md."`
	BatchRows   int               `yaml:"batch_rows" default:"16384" min:"1" doc:"Rows per Arrow batch (at least 1). Batches in flight are most of a load's memory: 16384 rows read as fast as 65536 here at 0.8× the peak RSS."`
}

// PartitionConfig cuts a run instance into ranges of one column, or a table into ranges of its pages.
type PartitionConfig struct {
	By     string         `yaml:"by" enum:",ctid" doc:"ctid: cut the table into count ranges of its pages (physical row positions), sized from its size in pages when the run instance is first planned; any table splits, with or without a key. The engine keeps that plan in the state store, so a retry or --force reload reads the same ranges; the last range is open-ended, so pages added since are read too. Needs table: (a table, partitioned table or materialized view) and, with count above 1, snapshot: export."`
	Column string         `yaml:"column" doc:"Column whose ranges make the partitions: an integer (int2, int4, int8), date, timestamp or timestamptz column. Rows where it is null are in no partition."`
	Every  stage.Duration `yaml:"every" doc:"Time columns: windows of this length across the run instance [start, end), aligned on its start (1h, 15m, 1d)."`
	Step   int64          `yaml:"step" doc:"Integer columns: ranges of this many values, aligned on multiples of step, from the table's min to its max."`
	Count  int            `yaml:"count" doc:"Number of ranges of (nearly) equal width: for a time column, of the run instance; for an integer column, of [min, max] of the table (needs table:); with by: ctid, of the table's pages (fewer for a table of fewer pages)."`
	Ranges [][]string     `yaml:"ranges" doc:"Explicit [lo, hi) ranges, lo inclusive, hi exclusive: [[0, 1000], [1000, 5000]] or [[\"2026-11-22T00:00:00Z\", \"2026-11-22T12:00:00Z\"]]."`
}

// IncrementalConfig reads what is new since the last committed watermark.
type IncrementalConfig struct {
	Column string         `yaml:"column" doc:"Watermark column: an integer, date, timestamp or timestamptz that only grows (an id, updated_at). A run reads [watermark, high) where high is max+1 (integers) or the server's now() minus lag (times); the next watermark is high, kept at full precision (microseconds)."`
	Lag    stage.Duration `yaml:"lag" min:"0s" doc:"Time columns: stay this far behind the server's clock, so rows committed late with a slightly earlier timestamp are not skipped."`
}

// CDCConfig is change capture from a logical replication slot.
type CDCConfig struct {
	Slot              string         `yaml:"slot" required:"true" doc:"Logical replication slot (pgoutput) this pipeline owns: created with the initial load, read and confirmed as partitions commit. Lower-case letters, digits and _ (a slot name's rules). A new name starts over with a new initial load."`
	Publication       string         `yaml:"publication" doc:"Publication the slot reads (default: the slot's name). With create_publication it is created FOR TABLE table when missing; otherwise it must exist and hold table."`
	CreatePublication bool           `yaml:"create_publication" default:"true" doc:"Create the publication when it is missing (needs ownership of the table). false: a DBA creates it (CREATE PUBLICATION name FOR TABLE table)."`
	OnTruncate        string         `yaml:"on_truncate" default:"fail" enum:"fail,clear" doc:"What a TRUNCATE of the table does: fail stops the stream with the truncate's log position; clear passes it on as a row with _op = 't' that empties the lake table of every row older than the truncate, in the commit of the partition holding it (needs an iceberg loader with mode: merge and version_by: _lsn)."`
	MaxSlotLag        stage.ByteSize `yaml:"max_slot_lag" default:"1GiB" fingerprint:"-" doc:"A warning is logged when the WAL the slot holds back on the server (pg_current_wal_lsn() - restart_lsn) passes this size: a stopped or slow pipeline fills the server's disk."`
	Roll              CDCRollConfig  `yaml:"roll" doc:"When a stream partition (the changes committed to the lake together) ends, at a transaction boundary only; whichever limit is reached first."`
	SnapshotWorkers   int            `yaml:"snapshot_workers" default:"4" min:"1" max:"64" fingerprint:"-" doc:"Partitions of the initial load read at once, each on its own connection in the slot's exported snapshot."`
}

// CDCRollConfig says when a change-capture stream partition ends.
type CDCRollConfig struct {
	Rows     int64          `yaml:"rows" default:"1000000" doc:"Changes per stream partition at most (0: no limit); a transaction is never split, so a larger one makes a larger partition."`
	Bytes    stage.ByteSize `yaml:"bytes" default:"128MiB" doc:"Bytes of row data per stream partition at most (0: no limit)."`
	Interval stage.Duration `yaml:"interval" default:"10s" doc:"Time a stream partition stays open after its first change at most (0: no limit): the lake's freshness."`
}
