package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// exec runs SQL statements on dsn, failing the test on error.
func exec(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, dsn)
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// connect opens a connection to dsn, closed when the test ends.
func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func newConsumer(t testing.TB, mem memory.Allocator, cfg Config) *Consumer {
	t.Helper()
	// The registry's path: absent keys take the defaults a pipeline file would get.
	src, err := stage.Build(stage.BuildContext{Pipeline: "test", Alloc: mem}, &cfg, build)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	c := src.(*Consumer)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTypes(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn,
		`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`,
		`CREATE DOMAIN positive AS numeric(8,3) CHECK (VALUE > 0)`,
		`CREATE TYPE addr AS (city text, zip int4, tags text[])`,
	)
	cases := []struct {
		typ    string
		values []string // SQL literals, one row each
		dt     string   // the Arrow type
		want   []string // cell text, one per row
		cfg    Config   // overrides (infinity)
	}{
		{typ: "bool", values: []string{"true", "false", "NULL"}, dt: "bool", want: []string{"true", "false", "null"}},
		{typ: "int2", values: []string{"-32768", "32767", "NULL"}, dt: "int16", want: []string{"-32768", "32767", "null"}},
		{typ: "int4", values: []string{"-2147483648", "2147483647", "0"}, dt: "int32", want: []string{"-2147483648", "2147483647", "0"}},
		{typ: "int8", values: []string{"-9223372036854775808", "9223372036854775807", "NULL"}, dt: "int64", want: []string{"-9223372036854775808", "9223372036854775807", "null"}},
		{typ: "oid", values: []string{"0", "4294967295"}, dt: "uint32", want: []string{"0", "4294967295"}},
		{typ: "float4", values: []string{"'NaN'", "'Infinity'", "'-Infinity'", "1.5", "'-0'", "NULL"}, dt: "float32", want: []string{"NaN", "+Inf", "-Inf", "1.5", "-0", "null"}},
		{typ: "float8", values: []string{"'NaN'", "'Infinity'", "'-Infinity'", "1e308", "5e-324", "NULL"}, dt: "float64", want: []string{"NaN", "+Inf", "-Inf", "1e+308", "5e-324", "null"}},
		{typ: "numeric(18,4)", values: []string{"0", "1.5", "-12345678901234.5678", "0.0001", "100", "NULL"}, dt: "decimal(18, 4)",
			want: []string{"0.0000", "1.5000", "-12345678901234.5678", "0.0001", "100.0000", "null"}},
		{typ: "numeric(38,0)", values: []string{"99999999999999999999999999999999999999", "-1"}, dt: "decimal(38, 0)", want: []string{"99999999999999999999999999999999999999", "-1"}},
		{typ: "numeric(10,10)", values: []string{"0.0000000001", "-0.9999999999"}, dt: "decimal(10, 10)", want: []string{"0.0000000001", "-0.9999999999"}},
		{typ: "numeric", values: []string{"'NaN'", "'Infinity'", "123456789012345678901234567890.123456789", "-0.000001", "0", "10000", "NULL"}, dt: "utf8",
			want: []string{`"NaN"`, `"Infinity"`, `"123456789012345678901234567890.123456789"`, `"-0.000001"`, `"0"`, `"10000"`, "null"}},
		{typ: "numeric(50,2)", values: []string{"1.25"}, dt: "utf8", want: []string{`"1.25"`}},
		{typ: "positive", values: []string{"1.5", "NULL"}, dt: "decimal(8, 3)", want: []string{"1.500", "null"}},
		{typ: "text", values: []string{"''", "'héllo ✓'", "NULL"}, dt: "utf8", want: []string{`""`, `"héllo ✓"`, "null"}},
		{typ: "varchar(5)", values: []string{"'abc'"}, dt: "utf8", want: []string{`"abc"`}},
		{typ: "char(4)", values: []string{"'ab'"}, dt: "utf8", want: []string{`"ab  "`}},
		{typ: "name", values: []string{"'pg_class'"}, dt: "utf8", want: []string{`"pg_class"`}},
		{typ: "bytea", values: []string{"'\\x00ff'::bytea", "''::bytea", "NULL"}, dt: "binary", want: []string{`"\x00\xff"`, `""`, "null"}},
		{typ: "uuid", values: []string{"'01020304-0506-0708-090a-0b0c0d0e0fff'", "NULL"}, dt: "extension<arrow.uuid>",
			want: []string{"01020304-0506-0708-090a-0b0c0d0e0fff", "null"}},
		{typ: "uuid[]", values: []string{"'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}'"}, dt: "list<item: extension<arrow.uuid>, nullable>",
			want: []string{"[a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11, null]"}},
		{typ: "date", values: []string{"'2026-11-22'", "'0001-01-01'", "'1969-12-31'", "NULL"}, dt: "date32", want: []string{"2026-11-22", "0001-01-01", "1969-12-31", "null"}},
		{typ: "time", values: []string{"'00:00:00'", "'23:59:59.999999'", "NULL"}, dt: "time64[us]", want: []string{"00:00:00.000000", "23:59:59.999999", "null"}},
		{typ: "timestamp", values: []string{"'2026-11-22 13:14:15.123456'", "'1900-01-01 00:00:00'", "NULL"}, dt: "timestamp[us]",
			want: []string{"2026-11-22T13:14:15.123456Z", "1900-01-01T00:00:00Z", "null"}},
		{typ: "timestamptz", values: []string{"'2026-11-22 13:14:15.000001+02'", "NULL"}, dt: "timestamp[us, tz=UTC]",
			want: []string{"2026-11-22T11:14:15.000001Z", "null"}},
		{typ: "timestamptz", values: []string{"'infinity'", "'-infinity'", "'2000-01-01Z'"}, dt: "timestamp[us, tz=UTC]", cfg: Config{Infinity: "null"},
			want: []string{"null", "null", "2000-01-01T00:00:00Z"}},
		{typ: "date", values: []string{"'infinity'", "'-infinity'"}, dt: "date32", cfg: Config{Infinity: "clamp"}, want: []string{"9999-12-31", "0001-01-01"}},
		{typ: "timestamp", values: []string{"'infinity'", "'-infinity'"}, dt: "timestamp[us]", cfg: Config{Infinity: "clamp"},
			want: []string{"9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z"}},
		{typ: "interval", values: []string{"'1 year 2 months 3 days 04:05:06.000007'", "'-1 day'", "NULL"}, dt: "month_day_nano_interval",
			want: []string{`{"months":14,"days":3,"nanoseconds":14706000007000}`, `{"months":0,"days":-1,"nanoseconds":0}`, "null"}},
		{typ: "json", values: []string{`'{"a": [1, 2]}'`, "NULL"}, dt: "extension<arrow.json[storage_type=utf8]>", want: []string{`{"a": [1, 2]}`, "null"}},
		{typ: "jsonb", values: []string{`'{"b": 1, "a": [true]}'`}, dt: "extension<arrow.json[storage_type=utf8]>", want: []string{`{"a": [true], "b": 1}`}},
		{typ: "jsonb[]", values: []string{`'{"{\"k\": 1}",NULL}'`}, dt: "list<item: extension<arrow.json[storage_type=utf8]>, nullable>", want: []string{`[{"k": 1}, null]`}},
		{typ: "int4[]", values: []string{"'{1,NULL,3}'", "'{}'", "NULL", "'[0:1]={7,8}'"}, dt: "list<item: int32, nullable>",
			want: []string{"[1, null, 3]", "[]", "null", "[7, 8]"}},
		{typ: "text[]", values: []string{`'{"a b",c}'`}, dt: "list<item: utf8, nullable>", want: []string{`["a b", "c"]`}},
		{typ: "numeric(6,2)[]", values: []string{"'{1.5,-2}'"}, dt: "list<item: decimal(6, 2), nullable>", want: []string{"[1.50, -2.00]"}},
		{typ: "mood", values: []string{"'happy'", "NULL"}, dt: "utf8", want: []string{`"happy"`, "null"}},
		{typ: "mood[]", values: []string{"'{sad,ok}'"}, dt: "list<item: utf8, nullable>", want: []string{`["sad", "ok"]`}},
		{typ: "inet", values: []string{"'192.168.0.1'", "'10.0.0.0/8'", "'::1'", "'2001:db8::1/64'", "NULL"}, dt: "utf8",
			want: []string{`"192.168.0.1"`, `"10.0.0.0/8"`, `"::1"`, `"2001:db8::1/64"`, "null"}},
		{typ: "cidr", values: []string{"'10.0.0.0/8'", "'192.168.1.1/32'"}, dt: "utf8", want: []string{`"10.0.0.0/8"`, `"192.168.1.1/32"`}},
		{typ: "addr", values: []string{`ROW('Paris', 75001, '{a,b}')`, `ROW(NULL, NULL, NULL)`, "NULL"},
			dt:   "struct<city: utf8 nullable, zip: int32 nullable, tags: list<item: utf8, nullable> nullable>",
			want: []string{`{city: "Paris", zip: 75001, tags: ["a", "b"]}`, "{city: null, zip: null, tags: null}", "null"}},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%s/%d", tc.typ, i), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			table := fmt.Sprintf("t%d", i)
			stmts := []string{fmt.Sprintf("CREATE TABLE %s (k serial PRIMARY KEY, v %s)", table, tc.typ)}
			for _, v := range tc.values {
				stmts = append(stmts, fmt.Sprintf("INSERT INTO %s (v) VALUES (%s)", table, v))
			}
			exec(t, dsn, stmts...)
			for _, mode := range []string{"extended", "copy"} {
				cfg := tc.cfg
				cfg.DSN, cfg.Table, cfg.Columns, cfg.BatchRows, cfg.ReadMode = stage.Secret(dsn), table, []string{"v"}, 2, mode
				rows, schema := testkit.ReadAllText(t, newConsumer(t, mem, cfg))
				if got := schema.Field(0).Type.String(); got != tc.dt {
					t.Errorf("%s: Arrow type %s, want %s", mode, got, tc.dt)
				}
				if !schema.Field(0).Nullable {
					t.Errorf("%s: field is not nullable; the column has no NOT NULL", mode)
				}
				if strings.Join(rows, "\n") != strings.Join(tc.want, "\n") {
					t.Errorf("%s: rows:\n%s\nwant:\n%s", mode, strings.Join(rows, "\n"), strings.Join(tc.want, "\n"))
				}
			}
		})
	}
}

func TestTypeErrors(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	cases := []struct {
		name, typ, value string
		wantErr          []string
	}{
		{"decimal NaN", "numeric(10,2)", "'NaN'", []string{`column "v"`, "NaN", "decimal(10, 2)"}},
		{"infinity", "timestamptz", "'infinity'", []string{`column "v"`, "infinity", "infinity: null"}},
		{"date -infinity", "date", "'-infinity'", []string{`column "v"`, "-infinity"}},
		{"2-d array", "int4[]", "'{{1,2},{3,4}}'", []string{`column "v"`, "2-dimensional"}},
		{"unsupported", "point", "'(1,2)'", []string{"unsupported type point", `column "v"`, "::text"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			table := fmt.Sprintf("e%d", i)
			exec(t, dsn, fmt.Sprintf("CREATE TABLE %s (v %s)", table, tc.typ), fmt.Sprintf("INSERT INTO %s VALUES (%s)", table, tc.value))
			for _, mode := range []string{"extended", "copy"} {
				c := newConsumer(t, mem, Config{DSN: stage.Secret(dsn), Table: table, ReadMode: mode})
				err := readErr(t, c)
				for _, w := range tc.wantErr {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %v, want it to mention %q", mode, err, w)
					}
				}
			}
		})
	}
	t.Run("decimal overflow names the value", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(offheap.NewGuarded())
		defer mem.AssertSize(t, 0)
		// The server enforces a declared numeric(p,s), so a value that does not fit can only come from a type
		// resolved narrower than the data; narrow it by hand to drive the overflow path with a real value.
		exec(t, dsn, `CREATE TABLE wide (v numeric(20,2))`, `INSERT INTO wide VALUES (1.25), (123456.78)`)
		c := newConsumer(t, mem, Config{DSN: stage.Secret(dsn), Query: `SELECT v::numeric(20,2) AS v FROM wide`})
		if _, err := c.Schema(t.Context()); err != nil {
			t.Fatal(err)
		}
		// Narrow the resolved type to force the overflow path on a real server value.
		c.src.types[0] = &pgType{oid: 1700, name: "numeric(5,2)", kind: kDecimal, prec: 5, scale: 2, dt: &arrow.Decimal128Type{Precision: 5, Scale: 2}}
		c.src.schema = arrow.NewSchema([]arrow.Field{{Name: "v", Type: c.src.types[0].dt, Nullable: true}}, nil)
		err := readErr(t, c)
		for _, w := range []string{`column "v"`, "123456.78", "decimal(5, 2)", "row 1"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("error %v, want it to mention %q", err, w)
			}
		}
	})
}

func readErr(t *testing.T, c *Consumer) error {
	t.Helper()
	ps, err := c.Partitions(t.Context(), testkit.RunInstance())
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := c.Read(t.Context(), p, func(arrow.RecordBatch) error { return nil }); err != nil {
			return err
		}
	}
	return nil
}

func TestNotNullAndDomains(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn, `CREATE SCHEMA "Sales"`, `CREATE DOMAIN email AS text`,
		`CREATE TABLE "Sales"."Order Lines" ("ID" int8 NOT NULL, "e" email, "dropped" int4, "q" int2 NOT NULL)`,
		`ALTER TABLE "Sales"."Order Lines" DROP COLUMN "dropped"`,
		`INSERT INTO "Sales"."Order Lines" VALUES (1, 'a@b.c', 3)`)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newConsumer(t, mem, Config{DSN: stage.Secret(dsn), Table: "Sales.Order Lines"})
	rows, schema := testkit.ReadAllText(t, c)
	want := arrow.NewSchema([]arrow.Field{
		{Name: "ID", Type: arrow.PrimitiveTypes.Int64},
		{Name: "e", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "q", Type: arrow.PrimitiveTypes.Int16},
	}, nil)
	if !schema.Equal(want) {
		t.Errorf("schema %s, want %s", schema, want)
	}
	if got := strings.Join(rows, "\n"); got != `1 | "a@b.c" | 3` {
		t.Errorf("rows %q", got)
	}
}

// A table altered between reading its schema and reading a partition fails the partition clearly, in both read
// modes' reach: the extended read compares the result's column types with the schema's before decoding a row.
func TestTableChangedMidRun(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE t (id int8, v int4)`, `INSERT INTO t SELECT g, g FROM generate_series(1, 10) g`)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newConsumer(t, mem, Config{DSN: stage.Secret(dsn), Table: "public.t"})
	if _, err := c.Schema(t.Context()); err != nil {
		t.Fatal(err)
	}
	exec(t, dsn, `ALTER TABLE t ALTER COLUMN v TYPE text`)
	err := readErr(t, c)
	if err == nil || !strings.Contains(err.Error(), `column "v" has type OID 25, but the schema read at the start has 23 (integer); did the table change during the run?`) {
		t.Fatalf("error %v", err)
	}
}
