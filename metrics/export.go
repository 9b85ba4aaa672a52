package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Job is the job label the runs push under, grouped by pipeline.
const Job = "jetflow"

// ListenAddr is where Serve listens for addr: a bare ":PORT" means loopback only, so that a run does not open a
// port to the network unless asked to with an explicit host (0.0.0.0:PORT for a Kubernetes scrape).
func ListenAddr(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

// Serve serves h on /metrics at addr (see ListenAddr) until stop is called; it returns the address it listens on.
func Serve(addr string, h http.Handler, log *slog.Logger) (stop func(), bound string, err error) {
	ln, err := net.Listen("tcp", ListenAddr(addr))
	if err != nil {
		return nil, "", fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx) // a scrape still running after 5 s is cut; nothing is lost
	}, ln.Addr().String(), nil
}

// Push adds the run's metrics to a Prometheus Pushgateway at url, in the group job="jetflow", pipeline=NAME and
// the extra grouping labels. It uses POST (add), not PUT (replace): a failed run pushes no last-success time, and
// the group keeps the one the last successful run pushed.
func (r *Run) Push(ctx context.Context, url string, grouping map[string]string) error {
	p := push.New(url, Job).Gatherer(withoutLabel{r.reg, pipelineLabel}).Grouping(pipelineLabel, r.pipeline)
	for k, v := range grouping {
		p = p.Grouping(k, v)
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics to %s: %s", redactURL(url), redactErr(url, err))
	}
	return nil
}

// withoutLabel gathers without one label: the Pushgateway refuses a metric that carries a label of the grouping
// key, and adds it back from the group.
type withoutLabel struct {
	g     prometheus.Gatherer
	label string
}

func (w withoutLabel) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := w.g.Gather()
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			kept := m.Label[:0]
			for _, l := range m.Label {
				if l.GetName() != w.label {
					kept = append(kept, l)
				}
			}
			m.Label = kept
		}
	}
	return mfs, err
}

// WriteFile writes the run's metrics in the text format to path, atomically (a temporary file renamed over it),
// for node_exporter's textfile collector. A run that did not succeed keeps the last-success time the file held,
// as a failed push does: the file is the pipeline's own, one file per pipeline.
func (r *Run) WriteFile(path string) error {
	if !r.succeeded() {
		if t, ok, err := readLastSuccess(path, r.pipeline); err != nil {
			return fmt.Errorf("--metrics-file %s: read the last success time it holds: %w", path, err)
		} else if ok {
			r.lastSuccess.WithLabelValues(r.pipeline).Set(t)
		}
	}
	if err := prometheus.WriteToTextfile(path, r.reg); err != nil {
		return fmt.Errorf("--metrics-file %s: %w", path, err)
	}
	return nil
}

func (r *Run) succeeded() bool {
	m := &dto.Metric{}
	g, err := r.runOK.GetMetricWithLabelValues(r.pipeline)
	return err == nil && g.Write(m) == nil && m.GetGauge().GetValue() == 1
}

// readLastSuccess reads the pipeline's last-success time from a metrics file written before; ok is false when
// there is no file or no such sample.
func readLastSuccess(path, pipeline string) (float64, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return 0, false, err
	}
	for _, m := range mfs[LastSuccess].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == pipelineLabel && l.GetValue() == pipeline {
				return m.GetGauge().GetValue(), true, nil
			}
		}
	}
	return 0, false, nil
}

// redactURL hides a password in a URL for messages.
func redactURL(s string) string {
	u, err := neturl.Parse(s)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}

// redactErr is err's text without the URL's password: the push package names the URL it pushed to.
func redactErr(s string, err error) string {
	msg := err.Error()
	if u, perr := neturl.Parse(s); perr == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}
