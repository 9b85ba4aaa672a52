package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"strconv"
	"time"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/metrics"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

// metricsFlags are run's three ways out for Prometheus metrics.
type metricsFlags struct {
	addr, push, file string
}

func (f *metricsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "metrics-addr", "", "serve Prometheus metrics on /metrics at `ADDR` while the run goes on; :PORT listens on loopback only, 0.0.0.0:PORT for a scrape from another host")
	fs.StringVar(&f.push, "metrics-push", "", "push the run's metrics to the Prometheus Pushgateway at `URL` when a batch run ends, grouped by pipeline (and shard)")
	fs.StringVar(&f.file, "metrics-file", "", "write the run's metrics to `FILE` when the run ends, for node_exporter's textfile collector (one file per pipeline, named *.prom)")
}

func (f *metricsFlags) any() bool { return f.addr != "" || f.push != "" || f.file != "" }

// runMetrics are the metrics of one `jetflow run`, and where they go.
type runMetrics struct {
	*metrics.Run
	flags    metricsFlags
	grouping map[string]string
	stop     func() // stops the /metrics server
	log      *slog.Logger
}

// startMetrics makes the run's metrics and serves them when asked; it returns nil when no metrics flag is set.
func startMetrics(f metricsFlags, pipeline string, stream bool, shard, shards int, log *slog.Logger) (*runMetrics, error) {
	if !f.any() {
		return nil, nil
	}
	if stream && f.push != "" {
		return nil, withCode(exitInvalid, errors.New("--metrics-push is for batch runs, which end: scrape a stream with --metrics-addr"))
	}
	m := &runMetrics{Run: metrics.New(pipeline), flags: f, log: log, stop: func() {}}
	if shards > 1 { // the pods of an Indexed Job each push their own group instead of replacing each other's
		m.grouping = map[string]string{"shard": strconv.Itoa(shard)}
	}
	if f.addr != "" {
		stop, bound, err := metrics.Serve(f.addr, m.Handler(), log)
		if err != nil {
			return nil, withCode(exitInvalid, err)
		}
		m.stop = stop
		log.Info("serving metrics", "url", "http://"+bound+"/metrics")
	}
	return m, nil
}

// options hooks the metrics to the engine: each partition's result goes to them.
func (m *runMetrics) options(o engine.Options) engine.Options {
	if m != nil {
		o.OnPartition = m.Partition
	}
	return o
}

// watch makes the stage metrics read the engine's stage stats, and the lag metric a stream consumer's lag.
func (m *runMetrics) watch(e *engine.Engine, l *loaded) {
	if m == nil {
		return
	}
	m.WatchStages(e.Stages)
	if lr, ok := l.built.Source.(stage.LagReporter); ok {
		m.WatchLag(l.built.SourceName, lr.Lag)
	}
	if lr, ok := l.built.Source.(stage.ByteLagReporter); ok {
		m.WatchLagBytes(l.built.SourceName, lr.LagBytes)
	}
}

// watermark records the incremental source's stored watermark, once the run is over.
func (m *runMetrics) watermark(ctx context.Context, src stage.Source, store state.Store, pipeline string) {
	w, ok := src.(stage.Watermarked)
	if m == nil || !ok {
		return
	}
	name, ok := w.WatermarkName()
	if !ok {
		return
	}
	if v, found, err := store.Watermark(context.WithoutCancel(ctx), pipeline, name); err == nil && found {
		m.Watermark(name, v)
	}
}

// finish records how the run ended (code) and sends the metrics where the flags say. Errors are logged: the
// run's own outcome, already decided, is what the exit code tells.
func (m *runMetrics) finish(ctx context.Context, rep *engine.Report, code int) {
	if m == nil {
		return
	}
	m.stop()
	m.Finish(rep, code == exitOK, time.Now())
	if m.flags.push != "" {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := m.Push(pctx, m.flags.push, m.grouping); err != nil {
			m.log.Error("metrics not pushed", "err", err)
		}
	}
	if m.flags.file != "" {
		if err := m.WriteFile(m.flags.file); err != nil {
			m.log.Error("metrics file not written", "err", err)
		}
	}
}
