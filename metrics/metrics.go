// Package metrics turns a run's observations into Prometheus metrics: the engine's stage stats (read when
// scraped, not counted twice), each partition's outcome and duration, whether the run succeeded and when a
// pipeline last did, and an incremental pipeline's watermark. A Run's registry holds only these: no Go runtime
// collectors, so it can be pushed to a Pushgateway or written for node_exporter's textfile collector, where
// another process's go_* metrics would collide.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jetflow-dev/jetflow/engine"
)

// Names of the metrics, as docs/PRODUCTION.md lists them.
const (
	StageRowsIn        = "jetflow_stage_rows_in_total"
	StageRowsOut       = "jetflow_stage_rows_out_total"
	StageBytes         = "jetflow_stage_bytes_total"
	StageErrors        = "jetflow_stage_errors_total"
	StageBadRecords    = "jetflow_stage_bad_records_total"
	StageSeconds       = "jetflow_stage_seconds_total"
	Partitions         = "jetflow_partitions_total"
	PartitionDuration  = "jetflow_partition_duration_seconds"
	RunOK              = "jetflow_run_ok"
	RunDuration        = "jetflow_run_duration_seconds"
	LastSuccess        = "jetflow_last_success_timestamp_seconds"
	WatermarkTimestamp = "jetflow_watermark_timestamp_seconds"
	StreamLag          = "jetflow_stream_lag_records"
	StreamLagBytes     = "jetflow_stream_lag_bytes"
	Notifications      = "jetflow_notifications_total"
	pipelineLabel      = "pipeline"
)

// Run is the metrics of one run of one pipeline.
type Run struct {
	pipeline string
	reg      *prometheus.Registry

	partitions  *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	runOK       *prometheus.GaugeVec
	runDuration *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	watermark   *prometheus.GaugeVec
	notified    *prometheus.CounterVec
	stages      *stageCollector
	lag         *lagCollector // records behind
	lagBytes    *lagCollector // bytes behind
}

// New makes the metrics of a run of pipeline, with its own registry.
func New(pipeline string) *Run {
	r := &Run{pipeline: pipeline, reg: prometheus.NewRegistry(), stages: &stageCollector{pipeline: pipeline},
		lag: &lagCollector{pipeline: pipeline, desc: lagDesc}, lagBytes: &lagCollector{pipeline: pipeline, desc: lagBytesDesc}}
	label := prometheus.Labels{pipelineLabel: pipeline}
	r.partitions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: Partitions, ConstLabels: label,
		Help: "Partitions of the run by outcome: committed, skipped (committed before), failed (after every retry) or aborted (interrupted)."},
		[]string{"status"})
	r.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: PartitionDuration, ConstLabels: label,
		Help:    "Time from a partition's first claim to its outcome, retries included, by outcome (skipped partitions are not observed).",
		Buckets: prometheus.ExponentialBuckets(0.1, 4, 9)}, // 0.1 s to 1.8 h
		[]string{"status"})
	r.runOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: RunOK,
		Help: "1 when the run ended with every partition committed, 0 otherwise."}, []string{pipelineLabel})
	r.runDuration = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: RunDuration,
		Help: "How long the run took, planning included."}, []string{pipelineLabel})
	r.lastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: LastSuccess,
		Help: "Unix time at which a run of the pipeline last ended with every partition committed; only a successful run sets it (freshness alerts)."},
		[]string{pipelineLabel})
	r.watermark = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: WatermarkTimestamp,
		Help: "An incremental pipeline's stored watermark, as Unix time, when the watermark is a time."},
		[]string{pipelineLabel, "watermark"})
	r.notified = prometheus.NewCounterVec(prometheus.CounterOpts{Name: Notifications, ConstLabels: label,
		Help: "Notifications of the run (failure, recovery) by outcome: sent, or failed after every retry."}, []string{"outcome"})
	r.reg.MustRegister(r.stages, r.lag, r.lagBytes, r.partitions, r.duration, r.runOK, r.runDuration, r.lastSuccess, r.watermark, r.notified)
	return r
}

// Registry is the run's registry: what is pushed or written to a file.
func (r *Run) Registry() *prometheus.Registry { return r.reg }

// WatchStages makes the stage metrics read stats (the engine's Stages) whenever they are gathered.
func (r *Run) WatchStages(stats func() []engine.StageStats) { r.stages.set(stats) }

// WatchLag makes the stream lag metric read lag (a stage.LagReporter's Lag: records behind, by lane) of the
// consumer named stage whenever it is gathered.
func (r *Run) WatchLag(stage string, lag func() map[string]int64) { r.lag.watch(stage, lag) }

// WatchLagBytes makes the stream byte-lag metric read lag (a stage.ByteLagReporter's LagBytes: bytes behind, by
// lane) of the consumer named stage whenever it is gathered.
func (r *Run) WatchLagBytes(stage string, lag func() map[string]int64) { r.lagBytes.watch(stage, lag) }

// Partition records one partition's outcome: engine.Options.OnPartition.
func (r *Run) Partition(p engine.PartitionResult) {
	r.partitions.WithLabelValues(p.Outcome).Inc()
	if p.Outcome != "skipped" {
		r.duration.WithLabelValues(p.Outcome).Observe(p.Duration.Seconds())
	}
}

// Finish records how the run ended: ok when every partition committed, at end. rep may be nil (the run did not
// get to plan); partitions it counts as aborted that were never started, and so never reported, are added.
func (r *Run) Finish(rep *engine.Report, ok bool, end time.Time) {
	v := 0.0
	if ok {
		v = 1
		r.lastSuccess.WithLabelValues(r.pipeline).Set(float64(end.UnixNano()) / 1e9)
	}
	r.runOK.WithLabelValues(r.pipeline).Set(v)
	if rep == nil {
		return
	}
	r.runDuration.WithLabelValues(r.pipeline).Set(rep.Duration.Seconds())
	reported := 0
	for _, p := range rep.Partitions {
		if p.Outcome == "aborted" {
			reported++
		}
	}
	if n := rep.Aborted - reported; n > 0 {
		r.partitions.WithLabelValues("aborted").Add(float64(n))
	}
}

// Notified counts the run's notifications: sent, and failed after every retry.
func (r *Run) Notified(sent, failed int) {
	r.notified.WithLabelValues("sent").Add(float64(sent))
	r.notified.WithLabelValues("failed").Add(float64(failed))
}

// Watermark records an incremental pipeline's stored watermark when it is a time (RFC 3339); other watermarks
// (integer columns, Kafka offsets) have no time to show and are left out.
func (r *Run) Watermark(name, value string) {
	t, err := time.Parse(time.RFC3339Nano, value)
	if err != nil {
		return
	}
	r.watermark.WithLabelValues(r.pipeline, name).Set(float64(t.UnixNano()) / 1e9)
}

// Handler serves the run's metrics with the process's own (Go runtime, process) beside them, for a scrape.
func (r *Run) Handler() http.Handler {
	proc := prometheus.NewRegistry()
	proc.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(prometheus.Gatherers{r.reg, proc}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// stageCollector reads the engine's stage stats when gathered: the engine's counters are the one count.
type stageCollector struct {
	pipeline string
	mu       sync.Mutex // a scrape may come while the engine is being set up
	stats    func() []engine.StageStats
}

func (c *stageCollector) set(stats func() []engine.StageStats) {
	c.mu.Lock()
	c.stats = stats
	c.mu.Unlock()
}

var stageDescs = func() map[string]*prometheus.Desc {
	labels := []string{pipelineLabel, "stage", "kind"}
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, labels, nil) }
	return map[string]*prometheus.Desc{
		StageRowsIn:     d(StageRowsIn, "Rows a stage took in (transformers and loaders; a consumer takes none)."),
		StageRowsOut:    d(StageRowsOut, "Rows a stage handed on (the consumer: rows read from the source)."),
		StageBytes:      d(StageBytes, "Bytes through a stage: Arrow bytes read by the consumer, bytes written by a loader at commit."),
		StageErrors:     d(StageErrors, "Failed calls of a stage (reads, transforms, writes, commits); a retried partition counts again."),
		StageBadRecords: d(StageBadRecords, "Source records left out as bad (on_error: skip or dead_letter), for sources that count them."),
		StageSeconds:    d(StageSeconds, "Time spent in a stage, summed over workers."),
	}
}()

func (c *stageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range stageDescs {
		ch <- d
	}
}

func (c *stageCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	stats := c.stats
	c.mu.Unlock()
	if stats == nil {
		return
	}
	for _, s := range stats() {
		for name, v := range map[string]float64{
			StageRowsIn: float64(s.RowsIn), StageRowsOut: float64(s.RowsOut), StageBytes: float64(s.Bytes),
			StageErrors: float64(s.Errors), StageBadRecords: float64(s.BadRecords), StageSeconds: s.Duration.Seconds(),
		} {
			ch <- prometheus.MustNewConstMetric(stageDescs[name], prometheus.CounterValue, v, c.pipeline, s.Stage, s.Kind)
		}
	}
}

// lagCollector reads a stream consumer's lag, in the unit of its desc, when gathered.
type lagCollector struct {
	pipeline string
	desc     *prometheus.Desc
	mu       sync.Mutex
	stage    string
	read     func() map[string]int64
}

var lagDesc = prometheus.NewDesc(StreamLag,
	"Records the source holds past a stream lane's committed position (Kafka: a topic/partition's high watermark minus the next offset to commit).",
	[]string{pipelineLabel, "stage", "lane"}, nil)

var lagBytesDesc = prometheus.NewDesc(StreamLagBytes,
	"Bytes the source holds past a stream lane's committed position (PostgreSQL change capture: the WAL past the slot's confirmed flush position).",
	[]string{pipelineLabel, "stage", "lane"}, nil)

func (c *lagCollector) watch(stage string, read func() map[string]int64) {
	c.mu.Lock()
	c.stage, c.read = stage, read
	c.mu.Unlock()
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	stage, read := c.stage, c.read
	c.mu.Unlock()
	if read == nil {
		return
	}
	for lane, n := range read() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), c.pipeline, stage, lane)
	}
}
