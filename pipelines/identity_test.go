package pipelines

import (
	"regexp"
	"strings"
	"testing"
)

func TestPartitionID(t *testing.T) {
	id := PartitionID("orders", "2026-11-22", "id[0,100000)")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("id %q is not 32 hex characters", id)
	}
	if again := PartitionID("orders", "2026-11-22", "id[0,100000)"); again != id {
		t.Errorf("not deterministic: %s then %s", id, again)
	}
	// Pinned: output already written is named after this id, so it must never change.
	// (sha256 of "orders\x002026-11-22\x00id[0,100000)", first 16 bytes, computed with sha256sum.)
	if id != "7b6a49e291c1ba33da1c4f89a47607cf" {
		t.Errorf("id changed: %s", id)
	}
	distinct := [][3]string{
		{"orders", "2026-11-22", "id[0,100000)"},
		{"orders2", "2026-11-22", "id[0,100000)"},
		{"orders", "2026-11-23", "id[0,100000)"},
		{"orders", "2026-11-22", "id[100000,200000)"},
		// The NUL separator keeps shifted boundaries apart.
		{"orders2026-11-22", "", "id[0,100000)"},
		{"orders", "2026-11-22id[0,100000)", ""},
	}
	seen := map[string][3]string{}
	for _, in := range distinct {
		got := PartitionID(in[0], in[1], in[2])
		if prev, dup := seen[got]; dup {
			t.Errorf("%v and %v share id %s", prev, in, got)
		}
		seen[got] = in
	}
}

// TestFingerprint: what decides the output changes the fingerprint; what does not, leaves it alone. The partition
// id, by design, ignores the spec altogether.
func TestFingerprint(t *testing.T) {
	base := `name: orders
consumer:
  type: testsrc
  columns: [{name: id}, {name: tenant, type: string}]
transformers: [{type: testmap, drop: [tenant]}]
loaders: [{type: testsink, dir: out}]
`
	fp := parse(t, base).Fingerprint()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(fp) {
		t.Fatalf("fingerprint %q is not sha256 hex", fp)
	}
	same := map[string]string{
		"description":         strings.Replace(base, "name: orders\n", "name: orders\ndescription: daily orders\n", 1),
		"retries and state":   base + "retries: {attempts: 9}\nstate: {type: postgres, dsn: x}\n",
		"run_instance":        base + "run_instance: {every: 1h, timezone: Europe/Paris}\n",
		"tests":               base + "tests: [{anything: 1}]\n",
		"stage names":         strings.Replace(base, "type: testsink,", "type: testsink, name: sink,", 1),
		"secrets":             strings.Replace(base, "  type: testsrc\n", "  type: testsrc\n  token: tok_xyz\n", 1),
		"fingerprint:\"-\"":   strings.Replace(base, "  type: testsrc\n", "  type: testsrc\n  note: hello\n", 1),
		"defaults written":    strings.Replace(base, "  type: testsrc\n", "  type: testsrc\n  rows: 10\n  mode: fast\n  max_size: 64MiB\n", 1),
		"equal values":        strings.Replace(base, "  type: testsrc\n", "  type: testsrc\n  every: 60m\n", 1),
		"key order and style": "loaders:\n  - dir: out\n    type: testsink\nname: orders # comment\nconsumer: {columns: [{type: int64, name: id}, {name: tenant, type: string}], type: testsrc}\ntransformers: [{type: testmap, drop: [tenant]}]\n",
		"env same value":      strings.Replace(base, "dir: out", `dir: "${UNSET:-out}"`, 1),
	}
	for name, src := range same {
		if got := parse(t, src).Fingerprint(); got != fp {
			t.Errorf("%s changed the fingerprint", name)
		}
	}
	different := map[string]string{
		"name":              strings.Replace(base, "name: orders", "name: orders2", 1),
		"consumer config":   strings.Replace(base, "  type: testsrc\n", "  type: testsrc\n  rows: 11\n", 1),
		"column type":       strings.Replace(base, "{name: id}", "{name: id, type: string}", 1),
		"transformer added": strings.Replace(base, "transformers: [{type: testmap, drop: [tenant]}]", "transformers: [{type: testmap, drop: [tenant]}, {type: testmap}]", 1),
		"transformers gone": strings.Replace(base, "transformers: [{type: testmap, drop: [tenant]}]\n", "", 1),
		"loader config":     strings.Replace(base, "dir: out", "dir: out2", 1),
		"loader added":      strings.Replace(base, "dir: out}]", "dir: out}, {type: testsink, dir: out}]", 1),
		"map value":         strings.Replace(base, "  type: testsrc\n", "  type: testsrc\n  labels: {a: b}\n", 1),
		"raw node":          strings.Replace(base, "  type: testsrc\n", "  type: testsrc\n  extra: [1]\n", 1),
	}
	seen := map[string]string{fp: "base"}
	for name, src := range different {
		got := parse(t, src).Fingerprint()
		if prev, dup := seen[got]; dup {
			t.Errorf("%s has the fingerprint of %s", name, prev)
		}
		seen[got] = name
	}
}
