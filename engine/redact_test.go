package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/stage"
)

// TestRedactsEveryOutput fails every partition with an error that quotes a secret, as a server echoing a request
// does: the log, the report, the error texts in the state store and a returned error show [REDACTED] instead.
func TestRedactsEveryOutput(t *testing.T) {
	const secret = "echoed-s3cret-value"
	red := stage.NewRedactor()
	red.Add(secret)
	mem := checked(t)
	src := &rangeSource{mem: mem, parts: 2, per: 10, batch: 10, failRead: func(stage.Partition, int) error {
		return stage.Permanent(fmt.Errorf("server said: your key %s is refused", secret))
	}}
	job := newJob(src, newTable())
	job.Redactor = red
	store := openStore(t)
	var logs bytes.Buffer
	rep := run(t, job, store, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	recs, err := store.List(context.Background(), "p", day.Label)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{"log": logs.String()}
	for i, p := range rep.Partitions {
		outputs[fmt.Sprintf("report partition %d", i)] = p.Error
	}
	for i, r := range recs {
		outputs[fmt.Sprintf("stored partition %d", i)] = r.Error
	}
	if len(outputs) != 5 {
		t.Fatalf("want 2 failed partitions in the report and the store, got %d outputs: %v", len(outputs), outputs)
	}
	for where, text := range outputs {
		if strings.Contains(text, secret) || !strings.Contains(text, stage.Redacted) {
			t.Errorf("%s is not redacted: %s", where, text)
		}
	}

	// A returned error keeps its chain for errors.Is, with its text redacted.
	errRefused := errors.New("refused")
	job = newJob(failingPlan{src, fmt.Errorf("list partitions with key %s: %w", secret, errRefused)}, newTable())
	job.Redactor = red
	e, err := New(job, store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Run(context.Background(), day)
	if !errors.Is(err, errRefused) || strings.Contains(err.Error(), secret) {
		t.Errorf("Run returned %v, want the plan error, redacted, wrapping errRefused", err)
	}
}

// failingPlan is a consumer whose partitions cannot be listed.
type failingPlan struct {
	*rangeSource
	err error
}

func (f failingPlan) Partitions(context.Context, stage.RunInstance) ([]stage.Partition, error) {
	return nil, f.err
}
