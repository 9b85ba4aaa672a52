package clickhouse

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go"
	"github.com/apache/arrow-go/v18/arrow/memory"

	_ "github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
)

// Config mistakes are FieldErrors on the key at fault, found before anything connects.
func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want map[string]string // key → part of its message
	}{
		{"nothing to read", Config{Addr: "h:9000"}, map[string]string{"table": "set table:"}},
		{"both", Config{Addr: "h:9000", Table: "t", Query: "SELECT 1"}, map[string]string{"query": "not both"}},
		{"addr", Config{Addr: "localhost", Table: "t"}, map[string]string{"addr": "not host:port"}},
		{"no addr", Config{Table: "t"}, map[string]string{"addr": "missing required key"}},
		{"table name", Config{Addr: "h:9000", Table: "a.b.c"}, map[string]string{"table": "not a table name"}},
		{"compression", Config{Addr: "h:9000", Table: "t", Compression: "gzip"}, map[string]string{"compression": "not one of"}},
		{"columns with query", Config{Addr: "h:9000", Query: "SELECT 1", Columns: []string{"a"}}, map[string]string{"columns": "applies to table"}},
		{"format in query", Config{Addr: "h:9000", Query: "SELECT 1 FORMAT TSV"}, map[string]string{"query": "FORMAT"}},
		{"settings in query", Config{Addr: "h:9000", Query: "SELECT 1 SETTINGS max_threads = 1"}, map[string]string{"query": "settings:"}},
		{"template", Config{Addr: "h:9000", Query: "SELECT {{ .Partition.Lo "}, map[string]string{"query": "template"}},
		{"setting name", Config{Addr: "h:9000", Table: "t", Settings: map[string]string{"max_threads = 1; DROP": "1"}}, map[string]string{"settings.max_threads = 1; DROP": "not a setting name"}},
		{"partition without column", Config{Addr: "h:9000", Table: "t", Partition: PartitionConfig{Count: 2}}, map[string]string{"partition.column": "required"}},
		{"partition two ways", Config{Addr: "h:9000", Table: "t", Partition: PartitionConfig{Column: "a", Count: 2, Step: 3}}, map[string]string{"partition": "exactly one"}},
		{"step with query", Config{Addr: "h:9000", Query: "SELECT 1", Partition: PartitionConfig{Column: "a", Step: 3}}, map[string]string{"partition.step": "table:"}},
		{"parts with query", Config{Addr: "h:9000", Query: "SELECT 1", Partition: PartitionConfig{Parts: true}}, map[string]string{"partition.parts": "needs table"}},
		{"parts and a column", Config{Addr: "h:9000", Table: "t", Partition: PartitionConfig{Parts: true, Column: "a", Count: 2}}, map[string]string{"partition.parts": "cannot be combined"}},
		{"tls keys without tls", Config{Addr: "h:9000", Table: "t", TLS: TLSConfig{ServerName: "x"}}, map[string]string{"tls.enabled": "enabled: true"}},
		{"tls ca file", Config{Addr: "h:9000", Table: "t", TLS: TLSConfig{Enabled: true, CAFile: "/nonexistent.pem"}}, map[string]string{"tls.ca_file": "nonexistent"}},
		{"block rows", Config{Addr: "h:9000", Table: "t", BlockRows: -1}, map[string]string{"block_rows": "want at least 1, got -1"}},
		{"read timeout", Config{Addr: "h:9000", Table: "t", ReadTimeout: stage.Duration(-time.Second)}, map[string]string{"read_timeout": "want at least 0s, got -1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stage.Build(stage.BuildContext{}, &tc.cfg, build)
			if err == nil {
				t.Fatal("no error")
			}
			fields, other := stage.FieldErrors(err)
			if len(other) > 0 {
				t.Errorf("errors without a key: %v", other)
			}
			got := map[string]string{}
			for _, f := range fields {
				got[f.Path] = f.Err.Error()
			}
			for k, w := range tc.want {
				if !strings.Contains(got[k], w) {
					t.Errorf("%s: got %q, want it to mention %q (all: %v)", k, got[k], w, err)
				}
			}
		})
	}
	var fe *stage.FieldError
	_, err := stage.Build(stage.BuildContext{}, &Config{Addr: "h:9000", Table: "t", BlockRows: 1}, build)
	if err != nil || errors.As(err, &fe) {
		t.Fatalf("a valid config: %v", err)
	}
}

func TestSQLText(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{quoteIdent("plain"), "`plain`"},
		{quoteIdent("we`ird\\"), "`we\\`ird\\\\`"},
		{quoteString("it's \\"), `'it\'s \\'`},
		{settingValue("4"), "4"},
		{settingValue("0.5"), "0.5"},
		{settingValue("in_order"), "'in_order'"},
		{settingValue("nan"), "'nan'"},
		{settingValue("1; DROP TABLE x"), "'1; DROP TABLE x'"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
	s, err := settingsClause(map[string]string{"max_threads": "2", "load_balancing": "random"}, 1000)
	if err != nil || s != " SETTINGS max_block_size = 1000, load_balancing = 'random', max_threads = 2" {
		t.Errorf("settings clause %q, %v", s, err)
	}
	s, _ = settingsClause(map[string]string{"max_block_size": "10"}, 1000)
	if s != " SETTINGS max_block_size = 10" {
		t.Errorf("an explicit max_block_size wins over block_rows: %q", s)
	}
}

func TestLiterals(t *testing.T) {
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		k    partKind
		v    any
		want string
		err  bool
	}{
		{partInt, int64(-5), "-5", false},
		{partInt, day, "", true},
		{partDate, day, "toDate('2026-11-22')", false},
		{partDate, day.Add(time.Hour), "", true},
		{partTime, day.Add(90 * time.Minute), "toDateTime('2026-11-22 01:30:00', 'UTC')", false},
		{partTime, day.Add(1500 * time.Millisecond), "toDateTime64('2026-11-22 00:00:01.5', 9, 'UTC')", false},
		{partTime64, day, "toDateTime64('2026-11-22 00:00:00', 9, 'UTC')", false},
		{partTime, int64(1), "", true},
	} {
		got, err := literal(tc.k, tc.v)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("literal(%d, %v) = %q, %v; want %q (error %v)", tc.k, tc.v, got, err, tc.want, tc.err)
		}
	}
}

func TestParseType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		args []string
	}{
		{"UInt8", "UInt8", nil},
		{"Nullable(String)", "Nullable", []string{"String"}},
		{"Map(String, Array(Tuple(a UInt8, `b c` String)))", "Map", []string{"String", "Array(Tuple(a UInt8, `b c` String))"}},
		{"Enum8('a,b' = 1, 'c\\'d)' = 2)", "Enum8", []string{"'a,b' = 1", "'c\\'d)' = 2"}},
		{"DateTime64(3, 'Europe/Paris')", "DateTime64", []string{"3", "'Europe/Paris'"}},
	} {
		got, err := parseType(tc.in)
		if err != nil || got.name != tc.name || strings.Join(got.args, "|") != strings.Join(tc.args, "|") {
			t.Errorf("parseType(%s) = %q %q, %v", tc.in, got.name, got.args, err)
		}
	}
	names, values, err := enumValues([]string{"'a,b' = 1", "'c\\'d)' = -2"})
	if err != nil || strings.Join(names, "|") != "a,b|c'd)" || values[1] != -2 {
		t.Errorf("enum values %q %v %v", names, values, err)
	}
	for _, a := range []struct{ in, name, typ string }{
		{"a UInt8", "a", "UInt8"}, {"`b c` String", "b c", "String"}, {"Nullable(String)", "", "Nullable(String)"}, {"DateTime('UTC')", "", "DateTime('UTC')"},
	} {
		if n, typ, err := tupleElement(a.in); n != a.name || typ != a.typ || err != nil {
			t.Errorf("tupleElement(%s) = %q %q %v", a.in, n, typ, err)
		}
	}
	for _, bad := range []string{"Array(String", "Enum8('a = 1)", "Interval", "Array()", "FixedString(0)", "DateTime64(12)", "Decimal(80, 2)"} {
		if n, err := newNode(nil, "c", bad); err == nil {
			n.release()
			t.Errorf("newNode(%s): no error", bad)
		} else if !strings.Contains(err.Error(), `column "c"`) {
			t.Errorf("newNode(%s): %v does not name the column", bad, err)
		}
	}
}

// Whole pipelines through the pipeline loader: defaults, enums and the file:line:col of config errors are the
// ones a user sees, and the password stays out of them.
func TestPipelineConfig(t *testing.T) {
	const password = "s3cret-PW"
	for _, tc := range []struct {
		name     string
		addr     string // default ch:9000
		consumer string
		want     []string // substrings of the error; none: it builds
	}{
		{"table", "", "table: events\n  partition: {column: ts, every: 1h}\n  settings: {max_threads: 4}", nil},
		{"query", "", "query: 'SELECT * FROM t WHERE ts >= {{ .Partition.Lo }} AND ts < {{ .Partition.Hi }}'\n  partition: {column: ts, count: 4}", nil},
		{"neither", "", "block_rows: 10", []string{"p.yaml:4:", "table", "set table:"}},
		{"bad compression", "", "table: t\n  compression: gzip", []string{"p.yaml:8:", "compression"}},
		{"bad setting name", "", "table: t\n  settings: {\"x; DROP\": 1}", []string{"p.yaml:", "settings.x; DROP", "not a setting name"}},
		{"two cuts", "", "table: t\n  partition: {column: id, count: 4, step: 10}", []string{"p.yaml:8:", "partition", "exactly one"}},
		{"bad addr", "nowhere", "table: t", []string{"p.yaml:5:", "addr", "host:port"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := "ch:9000"
			if tc.addr != "" {
				addr = tc.addr
			}
			src := fmt.Sprintf("name: p\nrun_instance: {every: 1d}\nconsumer:\n  type: clickhouse\n  addr: %s\n  password: ${CH_PASSWORD}\n  %s\nloaders:\n  - {type: parquet, path: /tmp/x/}\n", addr, tc.consumer)
			p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { return password, k == "CH_PASSWORD" }}.Parse("p.yaml", []byte(src))
			if err == nil {
				var built *pipelines.Built
				built, err = p.Build(stage.BuildContext{Alloc: memory.NewGoAllocator()})
				if err == nil {
					c := built.Source.(*Consumer)
					if c.cfg.Compression != "auto" || c.cfg.BlockRows != 65536 || c.cfg.Database != "default" || c.cfg.Password.Reveal() != password {
						t.Errorf("defaults: %+v", c.cfg)
					}
				}
			}
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestAutoCompression(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want ch.Compression
	}{
		{"localhost:9000", ch.CompressionDisabled},
		{"LocalHost:9000", ch.CompressionDisabled},
		{"127.0.0.1:9000", ch.CompressionDisabled},
		{"127.0.0.53:9000", ch.CompressionDisabled},
		{"[::1]:9000", ch.CompressionDisabled},
		{"10.0.0.5:9000", ch.CompressionLZ4},
		{"[2001:db8::1]:9440", ch.CompressionLZ4},
		{"clickhouse.internal:9000", ch.CompressionLZ4},
		{"localhost.example.com:9000", ch.CompressionLZ4},
		{"no-port", ch.CompressionLZ4},
	} {
		if got := autoCompression(tc.addr); got != tc.want {
			t.Errorf("autoCompression(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}
