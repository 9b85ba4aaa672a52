package pipelines

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// graphDir writes one pipeline file per name: deps and tags are the YAML flow lists of depends_on and tags.
func graphDir(t *testing.T, files map[string][2]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, dt := range files {
		text := "name: " + name + "\n"
		if dt[0] != "" {
			text += "depends_on: " + dt[0] + "\n"
		}
		if dt[1] != "" {
			text += "tags: " + dt[1] + "\n"
		}
		text += "consumer:\n  type: testsrc\n  columns:\n    - name: id\nloaders:\n  - type: testsink\n    dir: out\n"
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadGraph(t *testing.T, dir string) (*Graph, error) {
	t.Helper()
	ps, err := LoadPaths(dir)
	if err != nil {
		t.Fatal(err)
	}
	return NewGraph(ps)
}

func TestGraphErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string][2]string
		want  []string // each a line of the error, the directory cut off
	}{
		{"unknown name", map[string][2]string{"gold": {"[silver, bronze]", ""}, "silver": {}},
			[]string{`gold.yaml:2:22: depends_on: no pipeline is named "bronze" in this folder`}},
		{"did you mean", map[string][2]string{"gold": {"[silvr]", ""}, "silver": {}},
			[]string{`gold.yaml:2:14: depends_on: no pipeline is named "silvr" in this folder; did you mean "silver"?`}},
		{"itself", map[string][2]string{"gold": {"[gold]", ""}},
			[]string{`gold.yaml:2:14: depends_on: pipeline gold cannot depend on itself`}},
		{"twice", map[string][2]string{"gold": {"[silver, silver]", ""}, "silver": {}},
			[]string{`gold.yaml:2:22: depends_on: silver is listed twice`}},
		{"cycle", map[string][2]string{"a": {"[c]", ""}, "b": {"[a]", ""}, "c": {"[b]", ""}},
			[]string{`b.yaml:2:14: depends_on: a cycle: a → c → b → a; a pipeline cannot wait for its own output`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := graphDir(t, tt.files)
			_, err := loadGraph(t, dir)
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			if got != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestGraphSelect(t *testing.T) {
	g, err := loadGraph(t, graphDir(t, map[string][2]string{
		"bronze_orders": {"", "[nightly]"},
		"bronze_users":  {"", "[nightly, pii]"},
		"silver":        {"[bronze_orders, bronze_users]", ""},
		"gold":          {"[silver]", "[nightly]"},
		"other":         {"", ""},
	}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		selectors []string
		want      string
		err       string
	}{
		{nil, "bronze_orders bronze_users other silver gold", ""},
		{[]string{"silver"}, "silver", ""},
		{[]string{"silver+"}, "silver gold", ""},
		{[]string{"+silver"}, "bronze_orders bronze_users silver", ""},
		{[]string{"+gold"}, "bronze_orders bronze_users silver gold", ""},
		{[]string{"bronze_users+"}, "bronze_users silver gold", ""},
		{[]string{"tag:pii"}, "bronze_users", ""},
		{[]string{"tag:nightly", "other"}, "bronze_orders bronze_users other gold", ""},
		{[]string{"glod"}, "", `--select glod: no pipeline is named "glod"; did you mean "gold"?`},
		{[]string{"tag:nighty"}, "", `--select tag:nighty: no pipeline has the tag "nighty"; did you mean "nightly"?`},
	}
	for _, tt := range tests {
		ps, err := g.Select(tt.selectors)
		var names []string
		for _, p := range ps {
			names = append(names, p.Name)
		}
		if got := strings.Join(names, " "); got != tt.want || (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("Select(%q) = %q, %v; want %q, %q", tt.selectors, got, err, tt.want, tt.err)
		}
	}
}

func TestRunsOverlapping(t *testing.T) {
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		every      string
		start, end time.Time
		want       []string
	}{
		{"1h", day, day.AddDate(0, 0, 1), nil}, // 24 hours, checked by count below
		{"1d", day.Add(5 * time.Hour), day.Add(6 * time.Hour), []string{"2026-11-22"}},
		{"1d", day, day.AddDate(0, 0, 2), []string{"2026-11-22", "2026-11-23"}},
	}
	for _, tt := range tests {
		p, err := Options{}.Parse("p.yaml", []byte("name: p\nrun_instance: {every: "+tt.every+"}\n"+
			"consumer:\n  type: testsrc\n  columns:\n    - name: id\nloaders:\n  - type: testsink\n    dir: out\n"))
		if err != nil {
			t.Fatal(err)
		}
		runs := p.RunsOverlapping(tt.start, tt.end)
		var labels []string
		for _, r := range runs {
			labels = append(labels, r.Label)
		}
		if tt.want == nil {
			if len(runs) != 24 || labels[0] != "2026-11-22T00" || labels[23] != "2026-11-22T23" {
				t.Errorf("every %s over a day: %v", tt.every, labels)
			}
			continue
		}
		if strings.Join(labels, " ") != strings.Join(tt.want, " ") {
			t.Errorf("every %s over [%s, %s): %v, want %v", tt.every, tt.start, tt.end, labels, tt.want)
		}
	}
}
