package postgres

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	_ "github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestPipelineConfig loads whole pipelines through the pipeline loader, so defaults, enums and the positions of
// FieldErrors are the ones a user sees.
func TestPipelineConfig(t *testing.T) {
	const secretDSN = "postgres://u:s3cretPW@127.0.0.1:1/db"
	cases := []struct {
		name     string
		consumer string
		wantErr  []string // substrings of the build error; none: it builds
	}{
		{"table", "table: public.orders\n  partition: {column: updated_at, every: 1h}", nil},
		{"query", "query: 'SELECT * FROM t WHERE id >= {{ .Partition.Lo }} AND id < {{ .Partition.Hi }}'\n  partition: {column: id, ranges: [[0, 10], [10, 20]]}", nil},
		{"neither", "batch_rows: 10", []string{"p.yaml:", "table", "set table:"}},
		{"both", "table: t\n  query: SELECT 1", []string{"query", "not both"}},
		{"bad table", "table: a.b.c", []string{"table", "schema.table"}},
		{"bad template", "query: 'SELECT {{ .Partition.Lo '", []string{"query", "template"}},
		{"batch rows", "table: t\n  batch_rows: 0", []string{"p.yaml:7:15: consumer.batch_rows: want at least 1, got 0"}},
		{"negative lag", "table: t\n  incremental: {column: id, lag: -1s}", []string{"incremental.lag: want at least 0s, got -1s"}},
		{"partition without column", "table: t\n  partition: {count: 4}", []string{"partition.column", "required"}},
		{"two cuts", "table: t\n  partition: {column: id, count: 4, step: 10}", []string{"partition", "exactly one"}},
		{"bad range", "table: t\n  partition: {column: id, ranges: [[1, 2, 3]]}", []string{"partition.ranges[0]", "[lo, hi]"}},
		{"bad enum", "table: t\n  snapshot: sometimes", []string{"snapshot"}},
		{"columns with query", "query: SELECT 1\n  columns: [a]", []string{"columns", "with query:"}},
		{"ctid", "table: t\n  snapshot: export\n  partition: {by: ctid, count: 4}", nil},
		{"ctid one range without a snapshot", "table: t\n  partition: {by: ctid, count: 1}", nil},
		{"ctid without a snapshot", "table: t\n  partition: {by: ctid, count: 4}", []string{"consumer.snapshot", "set snapshot: export"}},
		{"ctid without count", "table: t\n  partition: {by: ctid}", []string{"partition.count", "at least 1"}},
		{"ctid and a column", "table: t\n  snapshot: export\n  partition: {by: ctid, column: id, count: 2}", []string{"partition.by", "remove column"}},
		{"ctid of a query", "query: SELECT 1\n  partition: {by: ctid, count: 1}", []string{"partition.by", "needs table:"}},
		{"ctid incremental", "table: t\n  incremental: {column: id}\n  partition: {by: ctid, count: 1}", []string{"incremental.column", "cannot be combined"}},
		{"unknown cut", "table: t\n  partition: {by: rowid, count: 1}", []string{"partition.by"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := fmt.Sprintf("name: p\nrun_instance: {every: 1d}\nconsumer:\n  type: postgres\n  dsn: ${PG_DSN}\n  %s\nloaders:\n  - {type: parquet, path: /tmp/x/}\n", tc.consumer)
			p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) {
				if k == "PG_DSN" {
					return secretDSN, true
				}
				return "", false
			}}.Parse("p.yaml", []byte(src))
			if err == nil {
				_, err = p.Build(stage.BuildContext{Alloc: memory.NewGoAllocator()})
			}
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cretPW") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestBadDSNHidesPassword(t *testing.T) {
	for _, dsn := range []string{"postgres://u:s3cretPW@host:notaport/db", "host=h port=x password=s3cretPW", "postgres://u:s3cretPW@[::1/db"} {
		_, err := stage.Build(stage.BuildContext{}, &Config{DSN: stage.Secret(dsn), Table: "t", BatchRows: 1}, build)
		if err == nil || !strings.Contains(err.Error(), "dsn") {
			t.Errorf("%s: error %v, want one at dsn", strings.ReplaceAll(dsn, "s3cretPW", "***"), err)
			continue
		}
		t.Log(err)
		if strings.Contains(err.Error(), "s3cretPW") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestConnectErrors: connection faults name host:port and the object, never the password.
func TestConnectErrors(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE present (id int)`)
	u, _ := url.Parse(dsn)
	wrongPW := *u
	wrongPW.User = url.UserPassword(srv.User, "not-the-password-XYZ")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := l.Addr().String()
	l.Close() // nothing listens there now
	refused := *u
	refused.Host = refusedAddr
	cases := []struct {
		name    string
		cfg     Config
		secret  string
		wantErr []string
	}{
		{"wrong password", Config{DSN: stage.Secret(wrongPW.String()), Table: "present"}, "not-the-password-XYZ", []string{u.Host, "password"}},
		{"refused", Config{DSN: stage.Secret(refused.String()), Table: "present"}, srv.Password, []string{refusedAddr}},
		{"missing table", Config{DSN: stage.Secret(dsn), Table: "public.absent"}, srv.Password, []string{u.Host, `"public"."absent"`, "table"}},
		{"missing column", Config{DSN: stage.Secret(dsn), Table: "present", Columns: []string{"nope"}}, srv.Password, []string{"columns[0]", `"nope"`}},
		{"bad query", Config{DSN: stage.Secret(dsn), Query: "SELECT nope FROM present"}, srv.Password, []string{"query", u.Host, "nope"}},
		{"bad partition column", Config{DSN: stage.Secret(dsn), Table: "present", Partition: PartitionConfig{Column: "zz", Count: 2}}, srv.Password, []string{"partition.column", "zz"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := newConsumer(t, mem, tc.cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err := c.Schema(ctx)
			if err == nil {
				t.Fatal("Schema succeeded")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			t.Logf("%s", err)
			if strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestPartitions(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE p (id int4, d date, ts timestamp, tz timestamptz, s text)`,
		`INSERT INTO p SELECT g, '2026-01-01'::date + (g % 3), '2026-01-01'::timestamp + g * interval '1 minute',
			'2026-01-01T00:00:00Z'::timestamptz + g * interval '1 minute', 'x' FROM generate_series(-5, 104) g`,
		`CREATE TABLE empty (id int8)`)
	run := testkit.RunInstance() // 2026-01-01, one day
	cases := []struct {
		name     string
		cfg      Config
		wantKeys []string
		wantRows int
	}{
		{"none", Config{Table: "p"}, []string{"all"}, 110},
		{"step", Config{Table: "p", Partition: PartitionConfig{Column: "id", Step: 50}},
			[]string{"id[-50,0)", "id[0,50)", "id[50,100)", "id[100,150)"}, 110},
		{"count", Config{Table: "p", Partition: PartitionConfig{Column: "id", Count: 3}},
			[]string{"id[-5,32)", "id[32,69)", "id[69,105)"}, 110},
		{"every timestamptz", Config{Table: "p", Partition: PartitionConfig{Column: "tz", Every: stage.Duration(6 * time.Hour)}},
			[]string{"tz[2026-01-01T00:00:00Z,2026-01-01T06:00:00Z)", "tz[2026-01-01T06:00:00Z,2026-01-01T12:00:00Z)",
				"tz[2026-01-01T12:00:00Z,2026-01-01T18:00:00Z)", "tz[2026-01-01T18:00:00Z,2026-01-02T00:00:00Z)"}, 105},
		{"count timestamp", Config{Table: "p", Partition: PartitionConfig{Column: "ts", Count: 2}},
			[]string{"ts[2026-01-01T00:00:00Z,2026-01-01T12:00:00Z)", "ts[2026-01-01T12:00:00Z,2026-01-02T00:00:00Z)"}, 105},
		{"every date", Config{Table: "p", Partition: PartitionConfig{Column: "d", Every: stage.Duration(24 * time.Hour)}},
			[]string{"d[2026-01-01T00:00:00Z,2026-01-02T00:00:00Z)"}, 36},
		{"ranges", Config{Table: "p", Partition: PartitionConfig{Column: "id", Ranges: [][]string{{"0", "10"}, {"10", "20"}}}},
			[]string{"id[0,10)", "id[10,20)"}, 20},
		{"query ranges", Config{Query: "SELECT id FROM p WHERE tz < {{ .Partition.Hi }} AND tz >= {{ .Partition.Lo }}",
			Partition: PartitionConfig{Column: "tz", Ranges: [][]string{{"2026-01-01T00:00:00Z", "2026-01-01T00:10:00.5Z"}}}},
			[]string{"tz[2026-01-01T00:00:00Z,2026-01-01T00:10:00.5Z)"}, 11},
		{"empty table", Config{Table: "empty", Partition: PartitionConfig{Column: "id", Count: 3}}, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			tc.cfg.DSN = stage.Secret(dsn)
			c := newConsumer(t, mem, tc.cfg)
			ps, err := c.Partitions(t.Context(), run)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			rows := 0
			for _, p := range ps {
				keys = append(keys, p.Key)
				err := c.Read(t.Context(), p, func(b arrow.RecordBatch) error { rows += int(b.NumRows()); return nil })
				if err != nil {
					t.Fatalf("Read %s: %v", p.Key, err)
				}
			}
			if strings.Join(keys, " ") != strings.Join(tc.wantKeys, " ") {
				t.Errorf("keys %q, want %q", keys, tc.wantKeys)
			}
			if rows != tc.wantRows {
				t.Errorf("%d rows, want %d", rows, tc.wantRows)
			}
		})
	}
	t.Run("misfits", func(t *testing.T) {
		for _, tc := range []struct {
			part PartitionConfig
			want string
		}{
			{PartitionConfig{Column: "s", Count: 2}, "integer, date, timestamp"},
			{PartitionConfig{Column: "tz", Step: 10}, "partition.step"},
			{PartitionConfig{Column: "id", Every: stage.Duration(time.Hour)}, "partition.every"},
			{PartitionConfig{Column: "d", Every: stage.Duration(time.Hour)}, "whole days"},
			{PartitionConfig{Column: "id", Ranges: [][]string{{"a", "b"}}}, "partition.ranges[0]"},
		} {
			c := newConsumer(t, memory.NewGoAllocator(), Config{DSN: stage.Secret(dsn), Table: "p", Partition: tc.part})
			_, err := c.Partitions(t.Context(), run)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%+v: error %v, want it to mention %q", tc.part, err, tc.want)
			}
		}
	})
}

// TestValidate: without --connect, validate notes that the schema is only known at the source; with it, the
// schema comes from the catalog and a config error found there lands on its key's line.
func TestValidate(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE v (id int8 NOT NULL, name text)`)
	for _, tc := range []struct {
		name, table string
		connect     bool
		wantNote    bool
		wantErr     string
	}{
		{"offline", "v", false, true, ""},
		{"connect", "v", true, false, ""},
		{"connect, missing table", "nope", true, false, "orders.yaml:6:10: consumer.table: no table or view"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "name: orders\nrun_instance: {every: 1d}\nconsumer:\n  type: postgres\n  dsn: ${PG_DSN}\n  table: " + tc.table +
				"\nloaders:\n  - {type: parquet, path: /tmp/x/}\n"
			p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { return dsn, k == "PG_DSN" }}.Parse("orders.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.Build(stage.BuildContext{Alloc: memory.NewGoAllocator()})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Source.(*Consumer).Close()
			schemas, err := p.Validate(t.Context(), b, tc.connect)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(b.Notes) > 0; got != tc.wantNote {
				t.Errorf("notes %v, want a note: %v", b.Notes, tc.wantNote)
			}
			if tc.connect && (len(schemas) != 1 || schemas[0].String() != "schema:\n  fields: 2\n    - id: type=int64\n    - name: type=utf8, nullable") {
				t.Errorf("schemas %v", schemas)
			}
		})
	}
}
