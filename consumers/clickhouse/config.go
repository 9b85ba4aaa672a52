package clickhouse

import "github.com/jetflow-dev/jetflow/stage"

// Config is the `clickhouse` consumer's YAML config.
type Config struct {
	Addr        string            `yaml:"addr" required:"true" doc:"host:port of the server's native protocol: 9000, or 9440 with TLS (not the HTTP port 8123)."`
	Database    string            `yaml:"database" default:"default" doc:"Database of table:, and the session's current database for query:."`
	User        string            `yaml:"user" default:"default" doc:"User to log in as."`
	Password    stage.Secret      `yaml:"password" doc:"The user's password, normally from the environment: ${CH_PASSWORD}. It never appears in logs or errors."`
	TLS         TLSConfig         `yaml:"tls" doc:"TLS to the server (its secure native port, 9440)."`
	Compression string            `yaml:"compression" default:"auto" enum:"auto,none,lz4,zstd" doc:"Block compression on the wire: auto (none for a server on this machine, addr localhost or a loopback address, where compressing costs both ends CPU and saves nothing; lz4 otherwise), lz4 (cheap), zstd (smaller, more CPU), none (a fast local network)."`
	Table       string            `yaml:"table" doc:"Table or view to read: name (in database:) or database.name. Exactly one of table and query."`
	Columns     []string          `yaml:"columns" doc:"Columns of table to read, in order (default: every column of SELECT *). Names are quoted as given."`
	Query       string            `yaml:"query" doc:"SELECT to read instead of a table, without FORMAT or SETTINGS (use settings:). With a partition, {{ .Partition.Lo }} and {{ .Partition.Hi }} stand for the window's bounds, rendered as typed ClickHouse literals (toDateTime('2026-11-22 00:00:00', 'UTC')): WHERE ts >= {{ .Partition.Lo }} AND ts < {{ .Partition.Hi }}."`
	Partition   PartitionConfig   `yaml:"partition" doc:"How a run instance is cut into partitions. Default: one partition holding the whole table or query."`
	Settings    map[string]string `yaml:"settings" doc:"ClickHouse settings for every query, sent in its SETTINGS clause (which every server version reads): {max_threads: 4, max_execution_time: 600}. Names are checked; values are sent as numbers when they are numbers, else as quoted strings."`
	BlockRows   int               `yaml:"block_rows" default:"65536" min:"1" doc:"Rows per block the server sends (its max_block_size); each block becomes one Arrow batch."`
	DialTimeout stage.Duration    `yaml:"dial_timeout" default:"10s" min:"0s" doc:"How long to wait for a connection and the handshake."`
	ReadTimeout stage.Duration    `yaml:"read_timeout" default:"5m" min:"0s" doc:"How long to wait for the next packet of a result; a query that computes longer before its first block needs more."`
}

// TLSConfig turns on TLS.
type TLSConfig struct {
	Enabled            bool   `yaml:"enabled" doc:"Connect with TLS."`
	CAFile             string `yaml:"ca_file" doc:"PEM file of the CA that signed the server's certificate (default: the system's roots)."`
	ServerName         string `yaml:"server_name" doc:"Name to verify the certificate against (default: the host of addr)."`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" doc:"Do not verify the server's certificate (tests only)."`
}

// PartitionConfig cuts a run instance into ranges of one column.
type PartitionConfig struct {
	Column string         `yaml:"column" doc:"Column whose ranges make the partitions: an integer ((U)Int8-64), Date, Date32, DateTime or DateTime64 column of table:, or the time column the query: filters with {{ .Partition.Lo }}/{{ .Partition.Hi }}."`
	Every  stage.Duration `yaml:"every" doc:"Time columns: windows of this length across the run instance [start, end), aligned on its start (1h, 15m, 1d)."`
	Step   int64          `yaml:"step" doc:"Integer columns of table:: ranges of this many values, aligned on multiples of step, from the column's min to its max."`
	Count  int            `yaml:"count" doc:"Number of ranges of (nearly) equal width: for a time column, of the run instance; for an integer column of table:, of [min, max]."`
	Parts  bool           `yaml:"parts" doc:"One partition per partition of the table's own PARTITION BY (a MergeTree table of table:), read with WHERE _partition_id = '...'; keys are _partition_id[202611]. Every partition of the table is read, whatever the run instance. Not with column."`
}
