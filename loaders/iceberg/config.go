package iceberg

import "github.com/jetflow-dev/jetflow/stage"

// Config is the `iceberg` loader's YAML config.
type Config struct {
	Catalog         CatalogConfig     `yaml:"catalog" doc:"Where the table is registered."`
	Table           string            `yaml:"table" required:"true" doc:"The table as namespace.name (namespace.sub.name for nested namespaces). It is created on the first run from the pipeline's schema, with its namespace."`
	PartitionBy     []string          `yaml:"partition_by" doc:"Iceberg partition spec of a new table: column, identity(column), year(ts), month(ts), day(ts), hour(ts), bucket(N, column), truncate(W, column). An existing table keeps its own spec."`
	Mode            string            `yaml:"mode" default:"append" enum:"append,overwrite_partition,merge" doc:"append adds each jetflow partition's rows (a re-run of the same partition replaces its earlier files, never adds to them); overwrite_partition also replaces every row already in the Iceberg partitions (e.g. the days) the new files fall in, in the same snapshot; merge upserts and deletes by key: a row replaces the stored row of its key unless its version is older (see key, version_by, delete_when, merge)."`
	Key             []string          `yaml:"key" doc:"mode: merge: the columns that identify a row (e.g. [order_id]); stored as the table's identifier fields. Required with merge, refused without it."`
	VersionBy       string            `yaml:"version_by" doc:"mode: merge: an orderable column (updated_at, a log position): a row replaces the stored row of its key only if its version is not older, and within one jetflow partition the newest version of a key wins, so re-running an old run instance never overwrites newer data. Empty: the last row of a key wins and always replaces."`
	DeleteWhen      string            `yaml:"delete_when" doc:"mode: merge: an expression in filter's language (deleted_at is not null, _op = 'd'); a row for which it is true deletes the stored row of its key (under the same version rule) instead of being written."`
	Merge           MergeConfig       `yaml:"merge" doc:"mode: merge: how replaced and deleted rows leave the table."`
	Deletes         DeletesConfig     `yaml:"deletes" doc:"mode: merge: how rows deleted at the source without a trace (hard deletes) are found."`
	SchemaEvolution string            `yaml:"schema_evolution" default:"fail" enum:"fail,add_columns,widen" doc:"What to do when the pipeline's schema differs from the table's: fail; add_columns adds new source columns as optional; widen also promotes int to long, float to double and widens decimal precision. Anything else is an error showing both schemas."`
	Compression     string            `yaml:"compression" default:"zstd" enum:"zstd,snappy,gzip,lz4,none" doc:"Parquet codec of the data files (table property write.parquet.compression-codec of a new table); zstd at level 3 unless the table property write.parquet.compression-level says otherwise."`
	DeltaEncoding   bool              `yaml:"delta_encoding" default:"true" doc:"Write an integer, date, time or timestamp column DELTA_BINARY_PACKED in a data file whose first batch holds it in order or nearly (ids, sequences, event times), as the parquet loader's delta_encoding does; false: plain and dictionary encodings only (a merge's integer key columns are delta-encoded either way)."`
	TargetFileSize  stage.ByteSize    `yaml:"target_file_size" default:"512MiB" min:"1" doc:"A data file is closed and the next begun at about this size (write.target-file-size-bytes)."`
	RowGroupSize    stage.ByteSize    `yaml:"row_group_size" default:"128MiB" min:"1" doc:"Parquet row group size in bytes (write.parquet.row-group-size-bytes)."`
	BufferSize      stage.ByteSize    `yaml:"buffer_size" default:"16MiB" min:"1" fingerprint:"-" doc:"Bytes the data files of one jetflow partition may hold in unwritten row groups together (one file per Iceberg partition a batch reaches): a small row group's rows as Arrow (encoded when it is written out), or encoded pages, pages under construction and dictionaries, counted at the size of the buffers that hold them. Past it, the largest row group is written out early, smaller: memory stays bounded however many Iceberg partitions are open at once. It bounds their footers too: the files with the most row groups are closed (their partitions go on in new files) while the footers describe more than buffer_size / 2 KiB column chunks, about half of buffer_size in metadata (tuning only: changing it does not re-run committed partitions)."`
	Clustered       bool              `yaml:"clustered" doc:"Input arrives sorted by the partition spec (e.g. one day per jetflow partition): keep one file open at a time instead of one per Iceberg partition, so file counts and memory stay low. Input that is not clustered fails the write."`
	Properties      map[string]string `yaml:"properties" doc:"Extra table properties of a new table (Iceberg names, e.g. write.metadata.delete-after-commit.enabled: \"true\")."`
	KeepSnapshots   int               `yaml:"keep_snapshots" default:"0" min:"0" fingerprint:"-" doc:"Expire all but this many of the newest snapshots as the loader commits, and delete the files only the expired ones used, so that the table's metadata, which every commit reads and writes whole, stays bounded (a stream adds a snapshot a roll): with mode: merge after each compaction (merge.compact_every), in the other modes once the table holds more snapshots than this many, or than the last expiry left (each stream lane's newest stays), by a quarter of this many or 4, whichever is more. Readers of an expired snapshot, and time travel to it, fail: keep it above the longest query at your commit rate. The newest snapshot carrying each stream lane's checkpoint (a slot, a Kafka partition) is kept whatever its age, for a recovery from the lake's checkpoints. 0: keep every snapshot (jetflow iceberg expire-snapshots expires them on demand)."`
	Commit          CommitConfig      `yaml:"commit" fingerprint:"-" doc:"How commits are retried and grouped (tuning only: changing it does not re-run committed partitions)."`
	S3              S3Config          `yaml:"s3" doc:"Object store settings for an s3:// warehouse."`
}

// MergeConfig chooses how a merge removes the stored rows it replaces or deletes.
type MergeConfig struct {
	Strategy     string `yaml:"strategy" default:"merge_on_read" enum:"merge_on_read,copy_on_write" doc:"merge_on_read writes Iceberg v2 position delete files beside the new data files (cheap writes; every reader applies them, jetflow iceberg compact folds them in); copy_on_write rewrites the data files that hold changed keys (cheap reads)."`
	CompactEvery int    `yaml:"compact_every" default:"60" min:"0" fingerprint:"-" doc:"After every this many merge commits of one process (a change capture stream commits once a roll), or sooner once they wrote 1,024 delete files, compact incrementally: rewrite in each Iceberg partition the data files written since the last compaction, the files 30% deleted or with 64 delete files, and the earlier compaction outputs no larger than those together (size tiers) into one file with the deletes applied, and merge the delete files of each file left in place into one, in a snapshot of its own, before the commit returns: a long stream's file and delete file counts, and so each merge's planning, stay bounded. 0: never (jetflow iceberg compact applies the deletes on demand). Tuning only: it does not change what the table holds."`
}

// DeletesConfig chooses how a merge finds the keys the source no longer holds.
type DeletesConfig struct {
	Detect string `yaml:"detect" default:"none" enum:"none,key_scan" doc:"none: only delete_when rows delete; key_scan: each partition also reads the key columns alone of its scope of the source (its range of partition.column, or the whole table for incremental and unpartitioned reads; a consumer that can, such as postgres) and deletes the table's keys in that scope that the source no longer holds. See docs/MERGE.md."`
}

// CatalogConfig selects and reaches the catalog.
type CatalogConfig struct {
	Type       string            `yaml:"type" default:"sql" enum:"sql,rest,hadoop" doc:"sql: a catalog in a SQLite file (the default, no server) or a PostgreSQL database shared by many workers; rest: an Iceberg REST catalog (R2 Data Catalog, Polaris, Lakekeeper, Nessie); hadoop: no catalog at all, the tables' metadata files under a local warehouse directory (readers find a table by its path)."`
	URI        stage.Secret      `yaml:"uri" doc:"sql: a SQLite file path (default <warehouse>/catalog.db for a local warehouse) or a postgres:// DSN (write ${VAR} when it holds a password); rest: the catalog's base URL."`
	Warehouse  string            `yaml:"warehouse" doc:"Where new tables' files go: a local directory or s3://bucket/prefix. Required for the sql catalog; for rest, the warehouse name or location the catalog expects."`
	Name       string            `yaml:"name" default:"jetflow" doc:"Catalog name recorded in the sql catalog's rows (lets several catalogs share one database)."`
	Token      stage.Secret      `yaml:"token" doc:"rest: bearer token; write ${VAR}."`
	Credential stage.Secret      `yaml:"credential" doc:"rest: OAuth2 client credential as client_id:client_secret, exchanged for a token; write ${VAR}."`
	Scope      string            `yaml:"scope" doc:"rest: OAuth2 scope of the credential (e.g. PRINCIPAL_ROLE:ALL for Polaris)."`
	Headers    map[string]string `yaml:"headers" doc:"rest: extra HTTP headers sent with every request."`
}

// CommitConfig tunes the commit retry loop.
type CommitConfig struct {
	Retries       int            `yaml:"retries" default:"30" min:"0" max:"1000" doc:"Commit attempts after the first when another writer moved the table (each reloads the table and checks the partition again)."`
	MaxWait       stage.Duration `yaml:"max_wait" default:"5s" doc:"Longest pause between attempts; pauses grow from 50ms with random jitter."`
	MaxPartitions int            `yaml:"max_partitions" default:"1" min:"1" max:"10000" doc:"Commit up to this many jetflow partitions in one snapshot, so a run of many small partitions does not make thousands of snapshots. A group is committed when full, when no other partition of the process is still being written, or after max_interval; each partition's Commit returns once its group is committed. Set it to about --workers."`
	MaxInterval   stage.Duration `yaml:"max_interval" default:"30s" doc:"Longest a finished partition waits for others to join its group."`
}

// S3Config reaches an S3-compatible object store.
type S3Config struct {
	Endpoint        string       `yaml:"endpoint" doc:"Endpoint URL of an S3-compatible server (MinIO, R2, ...); empty: AWS."`
	Region          string       `yaml:"region" default:"us-east-1" doc:"Region to sign requests for."`
	AccessKeyID     stage.Secret `yaml:"access_key_id" doc:"Access key id; write ${VAR}. Empty: the AWS default chain."`
	SecretAccessKey stage.Secret `yaml:"secret_access_key" doc:"Secret access key; write ${VAR}. Never logged."`
	PathStyle       bool         `yaml:"path_style" doc:"Address buckets as endpoint/bucket (most S3-compatible servers) instead of bucket.endpoint."`
}
