package engine

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/stage"
)

// recordedLoader is a loader whose destination holds the given stream checkpoints.
type recordedLoader struct {
	stage.Loader
	lanes map[string][]string
}

func (r recordedLoader) Checkpoints(context.Context, string, stage.RunInstance) (map[string][]string, error) {
	return r.lanes, nil
}

// orderedStream is a stream consumer whose checkpoints are offsets.
type orderedStream struct{ stage.StreamConsumer }

func (orderedStream) CompareCheckpoints(a, b string) (int, error) {
	return stage.CompareIntCheckpoints(a, b)
}

func TestRecoverCheckpoints(t *testing.T) {
	tests := []struct {
		name    string
		loaders []stage.Loader
		want    map[string]string
	}{
		{"one loader: each lane's newest, by offset not by text", []stage.Loader{
			recordedLoader{lanes: map[string][]string{"t/0": {"900", "1200", "300"}, "t/1": {"5"}}},
		}, map[string]string{"t/0": "1200", "t/1": "5"}},
		{"two loaders: the older of their newest (the later loader missed the last commit)", []stage.Loader{
			recordedLoader{lanes: map[string][]string{"t/0": {"100", "200"}, "t/1": {"50"}}},
			recordedLoader{lanes: map[string][]string{"t/0": {"100"}, "t/1": {"50", "70"}}},
		}, map[string]string{"t/0": "100", "t/1": "50"}},
		{"a lane one loader lacks starts anew", []stage.Loader{
			recordedLoader{lanes: map[string][]string{"t/0": {"100"}, "t/1": {"50"}}},
			recordedLoader{lanes: map[string][]string{"t/0": {"100"}}},
		}, map[string]string{"t/0": "100"}},
		{"a loader that keeps no checkpoints: nothing is recovered", []stage.Loader{
			recordedLoader{lanes: map[string][]string{"t/0": {"100"}}},
			newTable(),
		}, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &Engine{job: &Job{Pipeline: "p"}}
			if err := e.opts.defaults(); err != nil {
				t.Fatal(err)
			}
			for i, l := range tc.loaders {
				e.job.Loaders = append(e.job.Loaders, NamedLoader{Name: string(rune('a' + i)), Loader: l})
			}
			resume := e.destinationCheckpoints(orderedStream{}, stage.RunInstance{})
			got := map[string]string{}
			for _, lane := range []string{"t/0", "t/1", "t/2"} {
				cp, ok, err := resume(t.Context(), lane)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					got[lane] = cp
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("recovered %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRecoverCheckpointsNeedsAnOrder(t *testing.T) {
	e := &Engine{job: &Job{Pipeline: "p", Loaders: []NamedLoader{{Name: "a", Loader: recordedLoader{lanes: map[string][]string{"t/0": {"1", "2"}}}}}}}
	if err := e.opts.defaults(); err != nil {
		t.Fatal(err)
	}
	var unordered struct{ stage.StreamConsumer }
	if _, ok, err := e.destinationCheckpoints(unordered, stage.RunInstance{})(t.Context(), "t/0"); ok || err != nil {
		t.Errorf("a consumer without CompareCheckpoints recovered a checkpoint (ok %v, err %v); want none", ok, err)
	}
}

// countingSource is a source that reports records it left out.
type countingSource struct {
	stage.Consumer
	bad int64
}

func (c countingSource) BadRecords() int64 { return c.bad }

func TestStagesReportBadRecords(t *testing.T) {
	e := &Engine{job: &Job{Pipeline: "p", Source: countingSource{bad: 7}, SourceName: "kafka"}, meters: map[string]*stageMeter{}}
	e.meter("kafka", "consumer")
	e.meter("t", "transformer")
	got := e.Stages()
	if len(got) != 2 || got[0].BadRecords != 7 || got[1].BadRecords != 0 {
		t.Fatalf("stages %+v: want the consumer's 7 bad records on its own row only", got)
	}
	if b, _ := json.Marshal(got[0]); !strings.Contains(string(b), `"bad_records":7`) {
		t.Errorf("the run report's JSON of the stage is %s: want bad_records", b)
	}
}
