package transformers

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/testkit"
)

func TestCast(t *testing.T) {
	cases := []struct {
		name                 string
		inSchema, inRows     string
		cfg                  string
		wantSchema, wantRows string
		wantErr              []string
	}{
		{
			name: "integer narrowing", inSchema: "n: int64 not null, s: string", inRows: "[{n: 1, s: a}, {n: -5, s: null}, {n: 127}]",
			cfg: "{type: cast, columns: {n: int8}}", wantSchema: "n: int8 not null, s: string", wantRows: "[{n: 1, s: a}, {n: -5}, {n: 127}]",
		},
		{
			name: "integer overflow is an error naming row and value", inSchema: "n: int64", inRows: "[{n: 1}, {n: null}, {n: 300}, {n: 400}]",
			cfg: "{type: cast, columns: {n: int8}}", wantErr: []string{`column "n", row 2`, "value 300", "int8", "safe: false"},
		},
		{
			name: "unsafe overflow becomes null", inSchema: "n: int64 not null", inRows: "[{n: 1}, {n: 300}, {n: -129}, {n: 5}]",
			cfg: "{type: cast, safe: false, columns: {n: int8}}", wantSchema: "n: int8", wantRows: "[{n: 1}, {n: null}, {n: null}, {n: 5}]",
		},
		{
			name: "lossy float is an error", inSchema: "f: float64", inRows: "[{f: 2.0}, {f: 1.5}]",
			cfg: "{type: cast, columns: {f: int32}}", wantErr: []string{`column "f", row 1`, "value 1.5"},
		},
		{
			name: "unsafe float truncates toward zero", inSchema: "f: float64", inRows: "[{f: 1.5}, {f: -2.7}, {f: null}, {f: 1e20}]",
			cfg: "{type: cast, safe: false, columns: {f: int32}}", wantSchema: "f: int32", wantRows: "[{f: 1}, {f: -2}, {f: null}, {f: null}]",
		},
		{
			name: "string to numbers", inSchema: "a: string, b: string", inRows: "[{a: '12', b: '1.5'}, {a: null, b: '-3e2'}, {a: '-7', b: null}]",
			cfg: "{type: cast, columns: {a: int32, b: float64}}", wantSchema: "a: int32, b: float64", wantRows: "[{a: 12, b: 1.5}, {b: -300}, {a: -7}]",
		},
		{
			name: "unparsable number is an error", inSchema: "a: string", inRows: "[{a: '12'}, {a: 'x1'}]",
			cfg: "{type: cast, columns: {a: int64}}", wantErr: []string{`column "a", row 1`, `"x1"`},
		},
		{
			name: "unsafe unparsable number becomes null", inSchema: "a: string", inRows: "[{a: '12'}, {a: 'x1'}, {a: '3'}]",
			cfg: "{type: cast, safe: false, columns: {a: int64}}", wantSchema: "a: int64", wantRows: "[{a: 12}, {a: null}, {a: 3}]",
		},
		{
			name: "string to timestamp, ISO forms", inSchema: "t: string",
			inRows: "[{t: '2026-11-22T10:00:00Z'}, {t: '2026-11-22 10:00:00.5+01:00'}, {t: null}, {t: ' 2026-11-23 '}]",
			cfg:    "{type: cast, columns: {t: 'timestamp[us, UTC]'}}", wantSchema: "t: timestamp[us, UTC]",
			wantRows: `[{t: "2026-11-22T10:00:00Z"}, {t: "2026-11-22T09:00:00.5Z"}, {t: null}, {t: "2026-11-23T00:00:00Z"}]`,
		},
		{
			name: "string to timestamp in a zone", inSchema: "t: string", inRows: "[{t: '2026-07-01 12:00'}]",
			cfg:      "{type: cast, columns: {t: 'timestamp[s, Europe/Paris]'}}",
			wantRows: `[{t: "2026-07-01T10:00:00Z"}]`, wantSchema: "t: timestamp[s, Europe/Paris]",
		},
		{
			name: "string to date with strftime", inSchema: "d: string", inRows: "[{d: '22/11/2026'}, {d: null}, {d: '01/01/1969'}]",
			cfg: "{type: cast, columns: {d: date32}, formats: {d: '%d/%m/%Y'}}", wantSchema: "d: date32",
			wantRows: `[{d: "2026-11-22"}, {d: null}, {d: "1969-01-01"}]`,
		},
		{
			name: "date that does not match the format", inSchema: "d: string", inRows: "[{d: '22/11/2026'}, {d: '2026-11-22'}]",
			cfg: "{type: cast, columns: {d: date32}, formats: {d: '02/01/2006'}}", wantErr: []string{`column "d", row 1`, `"2026-11-22"`, "does not match the format"},
		},
		{
			name: "sub-second text into seconds is lossy", inSchema: "t: string", inRows: "[{t: '2026-11-22T10:00:00.25Z'}]",
			cfg: "{type: cast, columns: {t: 'timestamp[s, UTC]'}}", wantErr: []string{"row 0", "more precise"},
		},
		{
			name: "timestamp to text with a format and in its zone", inSchema: "t: timestamp[us, UTC], u: timestamp[ms, Asia/Tokyo]",
			inRows: `[{t: "2026-11-22T10:00:00.123456Z", u: "2026-11-22T10:00:00Z"}, {t: null, u: null}, {t: "1969-12-31T23:59:59.5Z", u: "1969-12-31T23:59:59.5Z"}]`,
			cfg:    "{type: cast, columns: {t: string, u: string}, formats: {t: '%Y-%m-%d %H:%M'}}", wantSchema: "t: string, u: string",
			wantRows: `[{t: "2026-11-22 10:00", u: "2026-11-22T19:00:00.000+09:00"}, {}, {t: "1969-12-31 23:59", u: "1970-01-01T08:59:59.500+09:00"}]`,
		},
		{
			name: "date to text", inSchema: "d: date32", inRows: `[{d: "2026-11-22"}, {d: null}]`,
			cfg: "{type: cast, columns: {d: string}}", wantSchema: "d: string", wantRows: `[{d: "2026-11-22"}, {}]`,
		},
		{
			name: "timestamp unit change", inSchema: "t: timestamp[ms, UTC]", inRows: `[{t: "2026-11-22T10:00:00.123Z"}]`,
			cfg: "{type: cast, columns: {t: 'timestamp[us, UTC]'}}", wantSchema: "t: timestamp[us, UTC]", wantRows: `[{t: "2026-11-22T10:00:00.123Z"}]`,
		},
		{
			name: "timestamp coarsening is lossy", inSchema: "t: timestamp[us, UTC]", inRows: `[{t: "2026-11-22T10:00:00Z"}, {t: "2026-11-22T10:00:00.000001Z"}]`,
			cfg: "{type: cast, columns: {t: 'timestamp[ms, UTC]'}}", wantErr: []string{`column "t", row 1`, "lose data"},
		},
		{
			name: "unsafe timestamp coarsening truncates", inSchema: "t: timestamp[us, UTC]", inRows: `[{t: "2026-11-22T10:00:00.001999Z"}]`,
			cfg: "{type: cast, safe: false, columns: {t: 'timestamp[ms, UTC]'}}", wantSchema: "t: timestamp[ms, UTC]", wantRows: `[{t: "2026-11-22T10:00:00.001Z"}]`,
		},
		{
			name: "zone change keeps the instant", inSchema: "t: timestamp[us, UTC]", inRows: `[{t: "2026-11-22T10:00:00Z"}]`,
			cfg: "{type: cast, columns: {t: 'timestamp[us, America/New_York]'}}", wantSchema: "t: timestamp[us, America/New_York]", wantRows: `[{t: "2026-11-22T10:00:00Z"}]`,
		},
		{
			name: "decimal scale and precision", inSchema: "d: decimal(9,2)", inRows: "[{d: 12.50}, {d: null}, {d: -0.10}]",
			cfg: "{type: cast, columns: {d: 'decimal(18,4)'}}", wantSchema: "d: decimal(18,4)", wantRows: "[{d: 12.5000}, {}, {d: -0.1000}]",
		},
		{
			name: "decimal scale loss is an error", inSchema: "d: decimal(9,2)", inRows: "[{d: 1.20}, {d: 1.25}]",
			cfg: "{type: cast, columns: {d: 'decimal(5,1)'}}", wantErr: []string{`column "d", row 1`, "1.25"},
		},
		{
			name: "unsafe decimal truncates, overflow is null", inSchema: "d: decimal(9,2)", inRows: "[{d: 1.25}, {d: 12345.60}, {d: -1.29}]",
			cfg: "{type: cast, safe: false, columns: {d: 'decimal(5,1)'}}", wantSchema: "d: decimal(5,1)", wantRows: "[{d: 1.2}, {d: null}, {d: -1.2}]",
		},
		{
			name: "safe decimal overflow is an error", inSchema: "d: decimal(9,2)", inRows: "[{d: 1.20}, {d: -12345.60}]",
			cfg: "{type: cast, columns: {d: 'decimal(5,1)'}}", wantErr: []string{`column "d", row 1`, "-12345.60", "precision"},
		},
		{
			name: "decimal rescale at 18 digits", inSchema: "d: decimal(18,0)", inRows: "[{d: 999999999999999999}, {d: -999999999999999999}]",
			cfg: "{type: cast, columns: {d: 'decimal(18,0)'}, safe: true}", wantSchema: "d: decimal(18,0)", wantRows: "[{d: 999999999999999999}, {d: -999999999999999999}]",
		},
		{
			name: "decimal widening scale within 18 digits", inSchema: "d: decimal(10,0)", inRows: "[{d: 9999999999}, {d: -1}]",
			cfg: "{type: cast, columns: {d: 'decimal(18,8)'}}", wantSchema: "d: decimal(18,8)", wantRows: "[{d: 9999999999.00000000}, {d: -1.00000000}]",
		},
		{
			name: "decimal widening scale overflow", inSchema: "d: decimal(10,0)", inRows: "[{d: 9999999999}]",
			cfg: "{type: cast, columns: {d: 'decimal(17,8)'}}", wantErr: []string{`column "d", row 0`, "9999999999"},
		},
		{
			name: "string to decimal", inSchema: "d: string", inRows: "[{d: '12.5'}, {d: null}, {d: '-3'}, {d: ' 0.01 '}]",
			cfg: "{type: cast, columns: {d: 'decimal(9,2)'}}", wantSchema: "d: decimal(9,2)", wantRows: "[{d: 12.50}, {}, {d: -3.00}, {d: 0.01}]",
		},
		{
			name: "string to decimal with too many digits", inSchema: "d: string", inRows: "[{d: '12.5'}, {d: '1.255'}]",
			cfg: "{type: cast, columns: {d: 'decimal(9,2)'}}", wantErr: []string{`column "d", row 1`},
		},
		{
			name: "decimal to text keeps the scale", inSchema: "d: decimal(9,2)", inRows: "[{d: 12.50}, {d: null}, {d: -0.05}]",
			cfg: "{type: cast, columns: {d: string}}", wantSchema: "d: string", wantRows: `[{d: "12.50"}, {}, {d: "-0.05"}]`,
		},
		{
			name: "same type is shared", inSchema: "n: int64", inRows: "[{n: 1}]",
			cfg: "{type: cast, columns: {n: int64}}", wantSchema: "n: int64", wantRows: "[{n: 1}]",
		},
		{name: "unknown column", inSchema: "total: int64", inRows: "[]", cfg: "{type: cast, columns: {totl: int32}}", wantErr: []string{"columns.totl", `did you mean "total"?`}},
		{name: "impossible cast", inSchema: "b: date32", inRows: "[]", cfg: "{type: cast, columns: {b: 'list<int64>'}}", wantErr: []string{"columns.b", "cannot cast column \"b\" from date32 to list<int64>"}},
		{name: "format between numbers", inSchema: "n: int64", inRows: "[]", cfg: "{type: cast, columns: {n: string}, formats: {n: '%Y'}}", wantErr: []string{"formats.n", "a format applies between strings and dates"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := checkedMem(t)
			in := testkit.RecordsYAML(t, mem, schemaOf(t, tc.inSchema), tc.inRows)
			defer in.Release()
			tr := mustBuild(t, mem, tc.cfg)
			if tc.wantErr != nil {
				_, err := tryRun(t, mem, tr, in)
				errContains(t, err, tc.wantErr...)
				if in.NumRows() > 0 {
					s := sliced(t, mem, in)
					_, err = tryRun(t, mem, tr, s)
					s.Release()
					errContains(t, err, tc.wantErr...)
				}
				return
			}
			want := testkit.RecordsYAML(t, mem, schemaOf(t, tc.wantSchema), tc.wantRows)
			defer want.Release()
			checkVariants(t, mem, tr, in, want, true)
		})
	}
}

func TestCastConfigErrors(t *testing.T) {
	cases := []struct{ cfg, want string }{
		{"{type: cast, columns: {a: integer}}", `columns.a: invalid type "integer"`},
		{"{type: cast, columns: {a: date32}, formats: {b: '%Y'}}", `formats.b: "b" is not one of the columns`},
		{"{type: cast, columns: {a: date32}, formats: {a: 'plain'}}", "has no date or time fields"},
	}
	for _, tc := range cases {
		t.Run(tc.cfg, func(t *testing.T) {
			_, err := build(t, checkedMem(t), tc.cfg)
			errContains(t, err, tc.want)
		})
	}
}

// TestCastLarge casts many rows with scattered failures, which exercises the search for failing rows.
func TestCastLarge(t *testing.T) {
	mem := checkedMem(t)
	const n = 20000
	var sb strings.Builder
	sb.WriteString("[")
	for i := range n {
		if i > 0 {
			sb.WriteString(",")
		}
		switch {
		case i%1000 == 999:
			sb.WriteString(`{"s": "bad"}`)
		case i%10 == 3:
			sb.WriteString(`{"s": null}`)
		default:
			fmt.Fprintf(&sb, `{"s": "%d"}`, i)
		}
	}
	sb.WriteString("]")
	in := testkit.Records(t, mem, schemaOf(t, "s: string"), sb.String())
	defer in.Release()

	_, err := tryRun(t, mem, mustBuild(t, mem, "{type: cast, columns: {s: int32}}"), in)
	errContains(t, err, `row 999`, `"bad"`)

	got := run(t, mem, mustBuild(t, mem, "{type: cast, safe: false, columns: {s: int32}}"), in)
	defer got.Release()
	if want := n/10 + n/1000; got.Column(0).NullN() != want {
		t.Errorf("nulls: got %d, want %d", got.Column(0).NullN(), want)
	}
	if v := got.Column(0).ValueStr(12345); v != "12345" {
		t.Errorf("row 12345: got %s", v)
	}
}
