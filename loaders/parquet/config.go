package parquet

import "github.com/jetflow-dev/jetflow/stage"

// Config is the `parquet` loader's YAML config.
type Config struct {
	Path             string         `yaml:"path" required:"true" doc:"Where the files go: a local directory or s3://bucket/prefix. A Go template over .Pipeline, .RunInstance (a time.Time, the run's start; 'date' formats it: {{ .RunInstance | date \"2006-01-02\" }}) and .RunLabel. Bookkeeping goes under <path>/_jetflow/, which Hive, Spark and DuckDB globs skip."`
	Mode             string         `yaml:"mode" default:"append" doc:"append is the only mode: each partition adds its files (a re-run replaces them). Plain Parquet files cannot delete rows, so mode: merge (upsert and delete by key) is the iceberg loader's."`
	Compression      string         `yaml:"compression" default:"zstd" enum:"zstd,snappy,gzip,lz4,none" doc:"Column chunk compression codec."`
	CompressionLevel int            `yaml:"compression_level" doc:"Codec level (zstd 1-22, gzip 1-9); 0 keeps the codec's default: zstd level 3, gzip 6. zstd level 1 (pyarrow's default) costs about a tenth less CPU for files from as large as level 3's to 60% larger, by table."`
	RowGroupSize     stage.ByteSize `yaml:"row_group_size" default:"16MiB" min:"1" doc:"A row group is closed once its encoded (compressed) bytes reach this size (checked after each batch). A writer holds about one row group in memory per open file, so a load needs roughly workers × writers × row_group_size for them; 16MiB is some 50–150 MB of Arrow data, a row group per ~0.5–2M rows for readers (DuckDB, Spark, Trino) to parallelise on."`
	BufferSize       stage.ByteSize `yaml:"buffer_size" default:"32MiB" min:"1" doc:"Bytes one writer may hold in the row groups of all its open files together (with partition_by, one file per directory a batch reaches): a small row group's rows as Arrow (with partition_by, encoded when it is written out), or encoded pages, pages under construction and dictionaries, counted at the size of the buffers that hold them. Past it, the largest row group is written out early, smaller: memory stays bounded however many directories are open at once. It bounds their footers too: the files with the most row groups are closed (their directories go on in new files) while the footers describe more than buffer_size / 2 KiB column chunks, about half of buffer_size in metadata."`
	TargetFileSize   stage.ByteSize `yaml:"target_file_size" default:"512MiB" min:"1" doc:"A file is closed and the next one begun once its encoded bytes reach this size."`
	PartitionBy      []string       `yaml:"partition_by" doc:"Columns whose values make Hive-style directories (year=2026/month=11/); the columns are kept out of the files, as Hive readers expect."`
	Writers          int            `yaml:"writers" default:"1" min:"1" max:"64" doc:"Files written at once for one partition, batches dealt round-robin; each file's columns are encoded in parallel already, so more writers help only where that leaves cores idle (few columns)."`
	Dictionary       bool           `yaml:"dictionary" default:"true" doc:"Dictionary-encode columns (a column whose dictionary would not pay falls back to plain in each row group). arrow-go's encoder hashes, and allocates for, every string value: false measured 14% less CPU and 7% less memory on generate → Parquet for 4% larger files, and 20% less CPU on Kafka → Parquet; readers filter and group dictionary columns faster."`
	DeltaEncoding    bool           `yaml:"delta_encoding" default:"true" doc:"Write an integer, date, time or timestamp column DELTA_BINARY_PACKED in a file whose first batch holds it in order or nearly (ids, sequences, event times), where its deltas take at most a quarter of its width; other columns stay plain or dictionary-encoded. Sorted columns come out smaller and the codec spends far less time on them. false: only plain and dictionary encodings, for readers that predate Parquet's 2.0 encodings (every current one reads it: DuckDB, Spark, Trino, pyarrow, ClickHouse)."`
	TimestampUnit    string         `yaml:"timestamp_unit" enum:"ms,us,ns" doc:"Write every timestamp column in this unit (values truncated when finer), as a legacy reader expects; empty keeps each column's unit."`
	Int96Timestamps  bool           `yaml:"int96_timestamps" doc:"Write timestamps as the deprecated INT96 type that older Spark and Hive readers need to merge with legacy tables."`
	LegacyMaps       bool           `yaml:"legacy_maps" doc:"Write map columns as plain repeated key/value groups without Parquet's MAP annotation, as some legacy writers did."`
	OmitArrowSchema  bool           `yaml:"omit_arrow_schema" doc:"Leave the Arrow schema out of the file metadata (it lets Arrow readers get exact types back), keeping the footer as plain as a non-Arrow writer's."`
	S3               S3Config       `yaml:"s3" doc:"Object store settings for s3:// paths."`
}

// S3Config reaches an S3-compatible object store.
type S3Config struct {
	Endpoint        string       `yaml:"endpoint" doc:"Endpoint URL of an S3-compatible server (MinIO, R2, ...); empty: AWS."`
	Region          string       `yaml:"region" default:"us-east-1" doc:"Region to sign requests for."`
	AccessKeyID     stage.Secret `yaml:"access_key_id" doc:"Access key id; write ${VAR} to take it from the environment. Empty: the AWS default chain (AWS_ACCESS_KEY_ID, profiles, instance roles)."`
	SecretAccessKey stage.Secret `yaml:"secret_access_key" doc:"Secret access key; write ${VAR}. Never logged."`
	PathStyle       bool         `yaml:"path_style" doc:"Address buckets as endpoint/bucket (most S3-compatible servers) instead of bucket.endpoint."`
}
