package metrics

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jetflow-dev/jetflow/engine"
)

// fullRun is a run's metrics with every metric given a value: two stages, partitions of every outcome, a
// watermark, a success.
func fullRun(end time.Time) *Run {
	r := New("orders")
	r.WatchStages(func() []engine.StageStats {
		return []engine.StageStats{
			{Stage: "postgres", Kind: "consumer", RowsOut: 300, Bytes: 4096, BadRecords: 2, Duration: 1500 * time.Millisecond},
			{Stage: "parquet", Kind: "loader", RowsIn: 300, RowsOut: 300, Bytes: 2048, Errors: 1, Duration: time.Second},
		}
	})
	r.WatchLag("kafka", func() map[string]int64 { return map[string]int64{"events/0": 7, "events/1": 0} })
	r.WatchLagBytes("postgres", func() map[string]int64 { return map[string]int64{"jetflow_orders": 4096} })
	r.Partition(engine.PartitionResult{Key: "a", Outcome: "committed", Duration: 2 * time.Second})
	r.Partition(engine.PartitionResult{Key: "b", Outcome: "failed", Duration: 30 * time.Second})
	r.Partition(engine.PartitionResult{Key: "c", Outcome: "skipped"})
	r.Watermark("updated_at", "2026-11-22T23:00:00Z")
	r.Watermark("id", "1234") // not a time: left out
	rep := &engine.Report{Duration: 40 * time.Second, Aborted: 1,
		Partitions: []engine.PartitionResult{{Key: "a", Outcome: "committed"}, {Key: "b", Outcome: "failed"}, {Key: "c", Outcome: "skipped"}}}
	r.Notified(1, 1)
	r.Finish(rep, true, end)
	return r
}

// scrape gets url and parses it with Prometheus' own text-format parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the scrape of %s: %v", url, err)
	}
	return mfs
}

// sample finds the value of the sample of name whose labels include want.
func sample(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
next:
	for _, m := range mfs[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no sample %s%v among:\n%v", name, want, mfs[name])
	return 0
}

// The /metrics endpoint serves the run's metrics, read from the engine's stats when scraped, beside the
// process's own; a bare :PORT listens on loopback only.
func TestServeScrape(t *testing.T) {
	end := time.Date(2026, 11, 23, 1, 2, 3, 0, time.UTC)
	r := fullRun(end)
	stop, bound, err := Serve("127.0.0.1:0", r.Handler(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	mfs := scrape(t, "http://"+bound+"/metrics")
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{StageRowsOut, map[string]string{"pipeline": "orders", "stage": "postgres", "kind": "consumer"}, 300},
		{StageBytes, map[string]string{"stage": "parquet", "kind": "loader"}, 2048},
		{StageErrors, map[string]string{"stage": "parquet"}, 1},
		{StageBadRecords, map[string]string{"stage": "postgres"}, 2},
		{StageSeconds, map[string]string{"stage": "postgres"}, 1.5},
		{Partitions, map[string]string{"pipeline": "orders", "status": "committed"}, 1},
		{Partitions, map[string]string{"status": "failed"}, 1},
		{Partitions, map[string]string{"status": "skipped"}, 1},
		{Partitions, map[string]string{"status": "aborted"}, 1}, // never started, so only the report knows it
		{PartitionDuration, map[string]string{"status": "failed"}, 1},
		{RunOK, map[string]string{"pipeline": "orders"}, 1},
		{StreamLag, map[string]string{"pipeline": "orders", "stage": "kafka", "lane": "events/0"}, 7},
		{StreamLag, map[string]string{"lane": "events/1"}, 0},
		{StreamLagBytes, map[string]string{"pipeline": "orders", "stage": "postgres", "lane": "jetflow_orders"}, 4096},
		{RunDuration, map[string]string{"pipeline": "orders"}, 40},
		{LastSuccess, map[string]string{"pipeline": "orders"}, float64(end.Unix())},
		{WatermarkTimestamp, map[string]string{"watermark": "updated_at"}, float64(time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC).Unix())},
	} {
		if got := sample(t, mfs, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if len(mfs[WatermarkTimestamp].GetMetric()) != 1 {
		t.Errorf("an integer watermark has no time to show: %v", mfs[WatermarkTimestamp])
	}
	if mfs["go_goroutines"] == nil {
		t.Error("the scrape lacks the process's Go runtime metrics")
	}
	for _, m := range mfs[PartitionDuration].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetValue() == "skipped" {
				t.Error("a skipped partition's duration was observed")
			}
		}
	}
	if got := ListenAddr(":9464"); got != "127.0.0.1:9464" {
		t.Errorf("ListenAddr(:9464) = %s, want loopback", got)
	}
}

// What is pushed or written to a file has only the run's metrics: another process's go_* would collide there.
func TestRegistryHasNoRuntimeMetrics(t *testing.T) {
	mfs, err := fullRun(time.Now()).Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "jetflow_") {
			t.Errorf("the run's registry holds %s", mf.GetName())
		}
	}
}

// A failed run does not set the last success time; its metrics file keeps the one the file held.
func TestWriteFileKeepsLastSuccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders.prom")
	end := time.Date(2026, 11, 23, 1, 2, 3, 0, time.UTC)
	if err := fullRun(end).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	failed := New("orders")
	failed.Finish(nil, false, end.Add(24*time.Hour))
	if err := failed.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	mfs := scrapeFile(t, path)
	if got := sample(t, mfs, RunOK, nil); got != 0 {
		t.Errorf("run_ok = %v after the failed run", got)
	}
	if got := sample(t, mfs, LastSuccess, map[string]string{"pipeline": "orders"}); got != float64(end.Unix()) {
		t.Errorf("last success = %v, want the first run's %v", got, end.Unix())
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the directory holds %d files, want the metrics file alone (no temporary file left)", len(entries))
	}
}

func scrapeFile(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// docs/PRODUCTION.md's metric table lists exactly the metrics a run registers.
func TestProductionDocListsEveryMetric(t *testing.T) {
	doc, err := os.ReadFile("../docs/PRODUCTION.md")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	row := regexp.MustCompile("(?m)^\\| `(jetflow_[a-z_]+)`")
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		listed = append(listed, m[1])
	}
	mfs, err := fullRun(time.Now()).Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var registered []string
	for _, mf := range mfs {
		registered = append(registered, mf.GetName())
	}
	sort.Strings(listed)
	sort.Strings(registered)
	if !slices.Equal(listed, registered) {
		t.Errorf("docs/PRODUCTION.md's metric table lists\n  %v\nthe run registers\n  %v", listed, registered)
	}
}
