package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

// An incremental (Kafka batch) pipeline run again for an instance it committed changes nothing and warns of
// nothing; --force reloads that instance's own window; the next instance loads what arrived since. DuckDB counts.
func TestIncrementalRerunAndForce(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "events", 1)
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: "events", Value: fmt.Appendf(nil, `{"id": %d}`, i)})
		}
		kc.Produce(t, recs...)
	}
	dir := t.TempDir()
	writeFile(t, dir, "events.yaml", `name: events
consumer:
  type: kafka
  brokers: ["`+kc.Brokers()+`"]
  topics: [events]
  start: earliest
  schema:
    - {name: id, type: int64}
loaders:
  - type: parquet
    path: out/events
`)
	count := func() string {
		rows := testkit.DuckDBQuery(t, `SELECT count(*) AS n, count(DISTINCT id) AS d FROM read_parquet('`+
			filepath.Join(dir, "out/events/*.parquet")+`')`)
		return rows[0]["n"] + "/" + rows[0]["d"]
	}
	produce(0, 3)
	steps := []struct {
		name    string
		args    []string
		produce int // records produced before the step
		want    string
		stdout  []string
	}{
		{"first run", []string{"run", "events.yaml", "--run", "2026-11-22"}, 0, "3/3", nil},
		{"re-run after new records", []string{"run", "events.yaml", "--run", "2026-11-22"}, 2, "3/3", nil},
		{"plan --force", []string{"plan", "events.yaml", "--run", "2026-11-22", "--force"}, 0, "3/3",
			[]string{"reload", "a run would load 1 partition(s)"}},
		{"--force reloads its window", []string{"run", "events.yaml", "--run", "2026-11-22", "--force"}, 0, "3/3", nil},
		{"next instance", []string{"run", "events.yaml", "--run", "2026-11-23"}, 0, "5/5", nil},
		{"plan of the next instance again", []string{"plan", "events.yaml", "--run", "2026-11-23"}, 0, "5/5",
			[]string{"a run would load 0 partition(s)"}},
	}
	produced := 3
	for _, st := range steps {
		if st.produce > 0 {
			produce(produced, produced+st.produce)
			produced += st.produce
		}
		args := st.args
		if args[0] == "run" {
			args = append(args, "--progress", "none")
		}
		r := jetflow(t, dir, nil, args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", st.name, r.code, r.stdout, r.stderr)
		}
		for _, bad := range []string{"not in the plan", "duplicates for a glob reader"} {
			if strings.Contains(r.stdout+r.stderr, bad) {
				t.Errorf("%s: a false warning (%q):\n%s%s", st.name, bad, r.stdout, r.stderr)
			}
		}
		for _, want := range st.stdout {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s: stdout lacks %q:\n%s", st.name, want, r.stdout)
			}
		}
		if got := count(); got != st.want {
			t.Fatalf("%s: DuckDB reads %s rows/distinct ids, want %s", st.name, got, st.want)
		}
	}
}
