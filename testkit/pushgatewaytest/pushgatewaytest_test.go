package pushgatewaytest

import (
	"net/http"
	"strings"
	"testing"
)

// What is pushed to a group is served with the group's labels, and the gateway is gone after Stop.
func TestServer(t *testing.T) {
	gw := Start(t)
	resp, err := http.Post(gw.URL+"/metrics/job/j/pipeline/p", "text/plain", strings.NewReader("# TYPE x gauge\nx 42\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("push: %s", resp.Status)
	}
	ms := gw.Metrics(t)["x"].GetMetric()
	if len(ms) != 1 || ms[0].GetGauge().GetValue() != 42 {
		t.Fatalf("x: %v, want one sample of 42", ms)
	}
	labels := map[string]string{}
	for _, l := range ms[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["job"] != "j" || labels["pipeline"] != "p" {
		t.Errorf("labels %v, want job j and pipeline p", labels)
	}
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(gw.URL + "/-/ready"); err == nil {
		resp.Body.Close()
		t.Fatal("the Pushgateway still answers after Stop")
	}
}

// CI builds the Pushgateway the tests look for.
func TestCIBuildsThisVersion(t *testing.T) { Bin.CIBuilds(t, "../../.ci/run") }
