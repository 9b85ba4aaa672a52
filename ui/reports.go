package ui

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/engine"
)

// report is what the pages show of a run report (jetflow run --report, --report-dir): how the run ended and
// the per-stage stats, which the state store does not keep.
type report struct {
	Path     string
	Pipeline string              `json:"pipeline"`
	Run      string              `json:"run"`
	Stages   []engine.StageStats `json:"stages"`
	Duration time.Duration       `json:"duration_ns"`
	ExitCode int                 `json:"exit_code"`
	Outcome  string              `json:"outcome"`
	Error    string              `json:"error"`
	Cause    string              `json:"cause"`
	mod      time.Time
}

// reportIndex finds the reports under a folder by the pipeline and run instance they name, whatever the files
// are called. A file is parsed again only when it changed.
type reportIndex struct {
	dir   string
	mu    sync.Mutex
	files map[string]reportEntry // path → parsed
}

type reportEntry struct {
	mod  time.Time
	size int64
	rep  *report // nil: not a run report
}

// find returns the newest report of a pipeline's run instance, nil when there is none.
func (x *reportIndex) find(pipeline, run string) *report {
	if x == nil || x.dir == "" {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.files == nil {
		x.files = map[string]reportEntry{}
	}
	var best *report
	seen := map[string]bool{}
	filepath.WalkDir(x.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		seen[path] = true
		e, ok := x.files[path]
		if !ok || !e.mod.Equal(info.ModTime()) || e.size != info.Size() {
			e = reportEntry{mod: info.ModTime(), size: info.Size(), rep: parseReport(path, info.ModTime())}
			x.files[path] = e
		}
		if r := e.rep; r != nil && r.Pipeline == pipeline && r.Run == run && (best == nil || r.mod.After(best.mod)) {
			best = r
		}
		return nil
	})
	for p := range x.files {
		if !seen[p] {
			delete(x.files, p)
		}
	}
	return best
}

func parseReport(path string, mod time.Time) *report {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var r report
	if json.Unmarshal(b, &r) != nil || r.Pipeline == "" || r.Run == "" {
		return nil
	}
	r.Path, r.mod = path, mod
	return &r
}
