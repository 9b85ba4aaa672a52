// Package pushgatewaytest runs a real Prometheus Pushgateway for tests, on a free port, stopped when the test
// ends. Like MinIO it builds from the Go module proxy and is cached by .ci/run (shared.GoBinary): Start uses
// $JETFLOW_PUSHGATEWAY or $HOME/.cache/jetflow/bin/pushgateway-<version>, and skips the test, naming the command
// that builds it, when there is none.
//
//	gw := pushgatewaytest.Start(t)
//	... push to gw.URL ...
//	families := gw.Metrics(t) // what the gateway serves to Prometheus, parsed
package pushgatewaytest

import (
	"fmt"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jetflow-dev/jetflow/testkit/shared"
)

// Version is the Pushgateway the tests use.
const Version = "v1.11.5"

// Bin is the Pushgateway binary, built by .ci/run.
var Bin = shared.GoBinary{Name: "pushgateway", What: "Pushgateway", Module: "github.com/prometheus/pushgateway",
	Version: Version, Tag: Version, Env: "JETFLOW_PUSHGATEWAY"}

// Server is a running Pushgateway.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	proc *shared.Proc
	log  *shared.SyncBuffer
}

// Start starts a Pushgateway with no persistence, stopped when t ends. It skips t when there is no binary.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Bin.Require(t, "the tests that push metrics to a real Pushgateway")
	return shared.StartOnFreePort(t, func() (*Server, error) { return start(bin) },
		(*Server).Stop, func(s *Server) string { return s.log.Tail(4000) })
}

func start(bin string) (*Server, error) {
	port, err := shared.FreePort()
	if err != nil {
		return nil, fmt.Errorf("pushgatewaytest: find a free port: %w", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := &Server{URL: "http://" + addr, log: &shared.SyncBuffer{}}
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if s.proc, err = shared.StartProc(cmd, syscall.SIGKILL); err != nil {
		return nil, fmt.Errorf("pushgatewaytest: start %s: %w", bin, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.proc.Exited():
			return nil, fmt.Errorf("pushgatewaytest: the Pushgateway exited at start (%s):\n%s", s.proc.State(), s.log.Tail(4000))
		default:
		}
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
			err = fmt.Errorf("GET /-/ready: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("pushgatewaytest: the Pushgateway at %s is not ready after 30s: %v\n%s", s.URL, err, s.log.Tail(4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Metrics is what the gateway serves on /metrics (the pushed groups and its own metrics), parsed with the
// Prometheus text-format parser.
func (s *Server) Metrics(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatalf("pushgatewaytest: scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pushgatewaytest: scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("pushgatewaytest: parse the scrape: %v", err)
	}
	return mfs
}

// Stop ends the gateway (SIGTERM, then SIGKILL after 5s) and waits for it.
func (s *Server) Stop() error {
	return s.proc.Stop(syscall.SIGTERM, 5*time.Second, "Pushgateway at "+s.URL)
}
