package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jetflow-dev/jetflow/internal/failpoint"
	"github.com/jetflow-dev/jetflow/metrics"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pushgatewaytest"
)

// timed are the samples whose values are times or durations, which differ from run to run.
var timed = regexp.MustCompile(`(?m)^((?:jetflow_partition_duration_seconds_(?:bucket|sum)|jetflow_stage_seconds_total|jetflow_run_duration_seconds|jetflow_last_success_timestamp_seconds)(?:\{[^}]*\})?) \S+$`)

// --metrics-file writes what a small run did, in the text format: compared with a golden file, times and
// durations replaced by T.
func TestRunMetricsFileGolden(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pipes/ok.yaml", validPipeline)
	start := time.Now()
	code, stdout, stderr := runCLI(t, dir, "run", "pipes/ok.yaml", "--run", "2026-11-22", "--progress", "none", "--metrics-file", "ok.prom")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "ok.prom"))
	if err != nil {
		t.Fatal(err)
	}
	mfs := parseText(t, b)
	if last := value(t, mfs, metrics.LastSuccess, nil); last < float64(start.Unix()) || last > float64(time.Now().Unix()+1) {
		t.Errorf("last success %v is not the time of this run (%v..%v)", last, start.Unix(), time.Now().Unix())
	}
	got := timed.ReplaceAllString(string(b), "$1 T")
	testkit.Golden(t, filepath.Join("testdata", "run-metrics.prom"), got, *update)
}

// A batch run pushes its metrics to a real Pushgateway; a failed run after it says so and keeps the last success
// time of the good run, and neither pushes the process's runtime metrics.
func TestRunPushesToPushgateway(t *testing.T) {
	gw := pushgatewaytest.Start(t)
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", seqPipeline("pushed", 3000, 3, ""))
	args := []string{"run", "p.yaml", "--run", "2026-11-22", "--workers", "1", "--progress", "none", "--metrics-push", gw.URL}
	jetflow(t, dir, nil, args...).must(t, exitOK)
	group := map[string]string{"job": "jetflow", "pipeline": "pushed"}
	first := gw.Metrics(t)
	lastOK := value(t, first, metrics.LastSuccess, group)
	if value(t, first, metrics.RunOK, group) != 1 || lastOK == 0 {
		t.Fatalf("after a good run: run_ok %v, last success %v", value(t, first, metrics.RunOK, group), lastOK)
	}
	if got := value(t, first, metrics.StageRowsOut, map[string]string{"pipeline": "pushed", "stage": "generate", "kind": "consumer"}); got != 3000 {
		t.Errorf("the consumer's rows out: %v, want 3000", got)
	}
	time.Sleep(1100 * time.Millisecond) // so that a second success time would differ
	r := jetflow(t, dir, []string{failpoint.EnvVar + "=parquet.before-marker=error"}, append(args, "--force")...).must(t, exitFailed)
	second := gw.Metrics(t)
	if got := value(t, second, metrics.RunOK, group); got != 0 {
		t.Errorf("run_ok %v after a failed run\n%s", got, r.stderr)
	}
	if got := value(t, second, metrics.LastSuccess, group); got != lastOK {
		t.Errorf("last success %v after a failed run, want the good run's %v", got, lastOK)
	}
	if got := value(t, second, metrics.Partitions, map[string]string{"pipeline": "pushed", "status": "failed"}); got != 3 {
		t.Errorf("failed partitions: %v, want 3", got)
	}
	for name, mf := range second {
		for _, m := range mf.GetMetric() {
			if labels(m)["job"] == "jetflow" && !strings.HasPrefix(name, "jetflow_") && name != "push_time_seconds" && name != "push_failure_time_seconds" {
				t.Errorf("the run pushed %s", name)
			}
		}
	}
}

// A run that cannot push says so and still ends with its own exit code; the URL's password is not printed.
func TestRunPushFailureKeepsExitCode(t *testing.T) {
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "gateway on fire", http.StatusInternalServerError)
	})}
	ln := listen(t)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	writeFile(t, dir, "pipes/ok.yaml", validPipeline)
	code, stdout, stderr := runCLI(t, dir, "run", "pipes/ok.yaml", "--run", "2026-11-22", "--progress", "none",
		"--metrics-push", "http://jetflow:hunter2-secret@"+ln.Addr().String())
	if code != exitOK || !strings.Contains(stderr, "metrics not pushed") || !strings.Contains(stderr, "500") {
		t.Errorf("exit %d, want 0 with the push error logged:\n%s", code, stderr)
	}
	if strings.Contains(stdout+stderr, "hunter2-secret") {
		t.Errorf("the password of the URL was printed:\n%s", stderr)
	}
	if code, _, stderr := runCLI(t, dir, "run", "pipes/ok.yaml", "--stream", "--metrics-push", "http://127.0.0.1:1"); code != exitInvalid || !strings.Contains(stderr, "--metrics-addr") {
		t.Errorf("--metrics-push with --stream: exit %d, want %d naming --metrics-addr:\n%s", code, exitInvalid, stderr)
	}
}

// --metrics-addr serves /metrics while a stream runs: scraped and parsed with Prometheus' text parser.
func TestRunServesMetricsDuringAStream(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "s.yaml", eventsStream)
	cmd := command(dir, nil, "run", "s.yaml", "--stream", "--log-format", "json", "--progress", "none", "--metrics-addr", "127.0.0.1:0")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	url := ""
	for deadline := time.Now().Add(20 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, line := range strings.Split(out.String(), "\n") {
			var rec struct{ Msg, URL string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving metrics" {
				url = rec.URL
			}
		}
	}
	if url == "" {
		t.Fatalf("no metrics URL logged:\n%s", out.String())
	}
	var mfs map[string]*dto.MetricFamily
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b := new(bytes.Buffer)
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		mfs = parseText(t, b.Bytes())
		if mfs[metrics.Partitions] != nil && value(t, mfs, metrics.Partitions, map[string]string{"status": "committed"}) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no committed partition scraped after 30s:\n%s\n%s", b, out.String())
		}
	}
	if got := value(t, mfs, metrics.StageRowsOut, map[string]string{"pipeline": "events", "stage": "generate"}); got < 5000 {
		t.Errorf("the consumer's rows out: %v, want at least a partition's 5000", got)
	}
	if mfs["go_goroutines"] == nil || mfs["process_resident_memory_bytes"] == nil {
		t.Error("the scrape lacks the process's runtime metrics")
	}
}

func parseText(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse metrics: %v\n%s", err, b)
	}
	return mfs
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// value is the value of the one sample of name whose labels include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	var found []float64
next:
	for _, m := range mfs[name].GetMetric() {
		got := labels(m)
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			found = append(found, m.Counter.GetValue())
		case m.Gauge != nil:
			found = append(found, m.Gauge.GetValue())
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d samples of %s%v, want one: %v", len(found), name, want, mfs[name])
	}
	return found[0]
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
