package pipelines

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse decodes and validates pipeline files, seeded with the examples and the invalid files of testdata:
// no input may panic, and every error is an *Error at a line inside the file, where a user can jump (and at a
// column, but for YAML syntax errors: yaml.v3 gives none).
func FuzzParse(f *testing.F) {
	var seeds []string
	for _, glob := range []string{"../examples/*.yaml", "testdata/invalid/*.yaml"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, m...)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("name: x\nconsumer: {type: generate, rows: 1, columns: [{name: a, type: int64}]}\nloaders: [{type: parquet, path: out/}]\n"))
	f.Add([]byte("\t"))
	f.Add([]byte("name: [\n"))
	env := map[string]string{"PG_DSN": "postgres://localhost/db", "OUT": "/tmp/out", "CH_ADDR": "localhost:9000"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Options{LookupEnv: lookup}.Parse("f.yaml", data)
		if err == nil {
			return
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error %T is not an ErrorList: %v", err, err)
		}
		// YAML (and editors) break lines at \n, \r\n and a lone \r.
		lines := bytes.Count(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n")) + 1
		for _, e := range list {
			if e.Line < 1 || e.Line > lines || e.Col < 1 && !strings.HasPrefix(e.Msg, "YAML syntax: ") {
				t.Fatalf("error without a position in the file (%d lines): %v\ninput:\n%s", lines, e, data)
			}
		}
	})
}
