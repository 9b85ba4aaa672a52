package kafka

import "github.com/jetflow-dev/jetflow/stage"

// Config is the `kafka` consumer's YAML config.
type Config struct {
	Brokers        []string       `yaml:"brokers" fingerprint:"-" required:"true" doc:"Seed brokers, host:port."`
	Topics         []string       `yaml:"topics" doc:"Topics to read. Exactly one of topics and topic_regex."`
	TopicRegex     string         `yaml:"topic_regex" doc:"Read every topic whose whole name matches this regular expression (RE2), as found when the run plans (batch) or by the group's metadata refreshes (stream)."`
	Group          string         `yaml:"group" fingerprint:"-" doc:"Consumer group (stream mode). Default: jetflow-<pipeline name>. jetflow resumes from the offsets it committed with the data, never from the group's; it commits the group's offsets after each partition only so that the usual tools show the lag."`
	InstanceID     string         `yaml:"group_instance_id" fingerprint:"-" doc:"Static group membership (KIP-345): a stable id per process (a StatefulSet pod's name, ${HOSTNAME}). A process that restarts with the same id takes its topic-partitions back at once instead of waiting for the group to time the old member out. Two live processes must never share one."`
	SessionTimeout stage.Duration `yaml:"session_timeout" fingerprint:"-" default:"45s" doc:"Stream mode: how long the group waits for a silent member (a crashed process) before giving its topic-partitions to the others."`
	MetadataMaxAge stage.Duration `yaml:"metadata_max_age" fingerprint:"-" default:"1m" doc:"Stream mode: how often the brokers' metadata is refreshed, so new topics matching topic_regex and new partitions are picked up."`
	Start          string         `yaml:"start" default:"earliest" doc:"Where a topic-partition jetflow has never read starts: earliest, latest, or an RFC 3339 time (the first message at or after it)."`
	Format         string         `yaml:"format" default:"json" enum:"json,avro,raw" doc:"How message values are decoded: json (one object per message, into the columns of schema, or of a schema inferred from infer_sample messages), avro (the binary encoding of avro_schema's record, its fields the columns) or raw (the value's bytes in one binary column named value)."`
	Schema         []Column       `yaml:"schema" doc:"format json: the columns to read from each message's top-level object, in order; fields not listed are ignored, absent ones are null. Without it the schema is inferred from a sample (infer_sample)."`
	InferSample    int            `yaml:"infer_sample" default:"1000" doc:"format json without schema: how many messages the schema is inferred from, read from the start of each topic-partition in turn when the pipeline starts: integers widen to float64, numbers and booleans mixed with other kinds become string (holding the JSON text), objects become structs, arrays lists, fields seen only as null string. Declare schema: for production pipelines: a later message that does not fit fails (or is skipped by on_error), and a stream restarted after retention dropped the sampled messages may infer differently."`
	AvroSchema     string         `yaml:"avro_schema" doc:"format avro: the schema (Avro JSON) whose top-level record's fields become the columns: without schema_registry, the writer's schema of every message; with it, the reader's schema instead of the subject's latest version. Nested records become structs, arrays lists, maps map<string, T>, [\"null\", T] unions nullable T (other unions are not supported), enums strings, fixed fixed_size_binary; logical types date, timestamp-millis, timestamp-micros and decimal map to date32, timestamp[ms|us, UTC] and decimal(p,s)."`
	Registry       RegistryConfig `yaml:"schema_registry" doc:"format avro: read the schemas from a Confluent-compatible schema registry. The columns come from the subject's latest version (or avro_schema); each message is decoded with the writer's schema its id names, fields matched by name: a field the writer lacks (at the top level or in a nested record) gets the reader's default, else null if the reader's field is nullable, else the message is bad; a field only the writer has is skipped; a field whose type differs from its column's is promoted as Avro allows (int to long, float or double; long to float or double; float to double; string and bytes either way) and otherwise makes the message bad (see on_error)."`
	AvroWire       string         `yaml:"avro_wire" enum:",plain,confluent" doc:"format avro: plain (the value is the encoded record; the default without schema_registry) or confluent (a zero magic byte and a 4-byte schema id before it, as Confluent serializers write; the default with schema_registry, which looks the id up; without it the id is not checked)."`
	KeyFormat      string         `yaml:"key_format" default:"bytes" enum:"bytes,string,avro" doc:"How the message key is read into the kafka_key column (with metadata: [key]): bytes (binary), string (UTF-8 checked: a key that is not valid UTF-8 makes the message bad) or avro (Confluent-framed Avro through schema_registry: the column's type is the latest version of schema_registry.key_subject, a record becoming a struct, and each key is decoded with the writer's schema its id names, resolved as values are). A null key is null in every format."`
	Metadata       []string       `yaml:"metadata" doc:"Message metadata to add as columns after the value's columns, in this order: key (binary), headers (list<struct<key: string, value: binary>>), topic (string), partition (int32), offset (int64), timestamp (timestamp[ms, UTC]). Each column is named kafka_<name>."`

	OnError         string           `yaml:"on_error" default:"fail" enum:"fail,skip,dead_letter" doc:"What a message that cannot be decoded (bad JSON, a value that does not fit its column, invalid UTF-8 in a string, larger than max_message_bytes) does: fail stops the partition with the message's topic, partition and offset; skip leaves it out, counting and logging it; dead_letter leaves it out and writes it with the error to dead_letter."`
	DeadLetter      DeadLetterConfig `yaml:"dead_letter" doc:"Where on_error: dead_letter writes bad messages: a Kafka topic, or a directory of Parquet files. Exactly one."`
	MaxMessageBytes stage.ByteSize   `yaml:"max_message_bytes" default:"1MiB" doc:"A message whose value is larger is a bad message (see on_error)."`
	BatchRows       int              `yaml:"batch_rows" fingerprint:"-" default:"16384" min:"1" doc:"Messages per Arrow batch at most (at least 1)."`

	Roll         RollConfig     `yaml:"roll" doc:"Stream mode: when a stream partition (the messages of one topic-partition loaded and committed together) is cut; whichever limit is reached first."`
	DrainTimeout stage.Duration `yaml:"drain_timeout" fingerprint:"-" default:"20s" doc:"Stream mode: on SIGTERM, the partitions in flight are ended early and committed, as on a rebalance; what is not committed within this time is aborted (and read again after a restart). 0 aborts at once. Keep it below the orchestrator's grace period (Kubernetes: terminationGracePeriodSeconds, 30s by default); a second SIGTERM stops the process at once."`
	Fetch        FetchConfig    `yaml:"fetch" fingerprint:"-" doc:"Fetch sizes and waits."`
	SASL         SASLConfig     `yaml:"sasl" fingerprint:"-" doc:"SASL authentication (none when mechanism is empty)."`
	TLS          TLSConfig      `yaml:"tls" fingerprint:"-" doc:"TLS to the brokers."`
}

// Column declares one JSON column.
type Column struct {
	Name string `yaml:"name" required:"true" doc:"Field name in the message's top-level object, and column name."`
	Type string `yaml:"type" required:"true" doc:"Arrow type: int32, int64, float32, float64, bool, string, large_string, binary (from a JSON string, as its bytes), date32, timestamp[unit, tz] (RFC 3339 text or epoch number in the unit), decimal(p,s), list<T>, struct<a: T, ...>."`
}

// DeadLetterConfig says where bad messages go.
type DeadLetterConfig struct {
	Topic string `yaml:"topic" doc:"Kafka topic (on the same brokers) that gets each bad message with its key and value, and headers jetflow-error, jetflow-topic, jetflow-partition and jetflow-offset. Written before the partition commits; a partition loaded again writes its bad messages again, so consumers of the topic should dedupe on (jetflow-topic, jetflow-partition, jetflow-offset)."`
	Path  string `yaml:"path" doc:"Local directory that gets one Parquet file per stream or batch partition that had bad messages (columns topic, partition, offset, timestamp, key, value, error), named after the partition id, written before the partition commits and replaced if it loads again."`
}

// RollConfig says when a stream partition ends.
type RollConfig struct {
	Rows     int64          `yaml:"rows" default:"1000000" doc:"Messages per stream partition at most (0: no limit)."`
	Bytes    stage.ByteSize `yaml:"bytes" default:"128MiB" doc:"Message bytes (key and value) per stream partition at most (0: no limit)."`
	Interval stage.Duration `yaml:"interval" default:"60s" doc:"Time a stream partition stays open after its first message at most (0: no limit)."`
}

// FetchConfig tunes franz-go's fetches.
type FetchConfig struct {
	MaxBytes          stage.ByteSize `yaml:"max_bytes" default:"50MiB" min:"1" doc:"Bytes a fetch response may carry at most."`
	PartitionMaxBytes stage.ByteSize `yaml:"partition_max_bytes" default:"1MiB" min:"1" doc:"Bytes per topic-partition in a fetch response at most, compressed. A partition reads at most this per round trip to its broker, so a distant broker may want more; but a fetch is decompressed whole before its records are decoded, so compressible JSON holds some ten times this in memory per partition (franz-go's default; 4MiB cost 20% more CPU on local JSON)."`
	MaxWait           stage.Duration `yaml:"max_wait" default:"500ms" min:"1ms" doc:"How long a broker may hold a fetch waiting for data."`
}

// SASLConfig authenticates to the brokers.
type SASLConfig struct {
	Mechanism string       `yaml:"mechanism" enum:",plain,scram-sha-256,scram-sha-512" doc:"plain, scram-sha-256 or scram-sha-512; empty for none."`
	User      string       `yaml:"user" doc:"User name."`
	Password  stage.Secret `yaml:"password" doc:"Password, from the environment: ${KAFKA_PASSWORD}."`
}

// TLSConfig turns on TLS.
type TLSConfig struct {
	Enabled            bool   `yaml:"enabled" doc:"Connect with TLS (system roots unless ca_file is set)."`
	CAFile             string `yaml:"ca_file" doc:"PEM file of the certificate authorities to trust (relative to the pipeline file)."`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" doc:"Do not verify the brokers' certificates (tests only)."`
}
