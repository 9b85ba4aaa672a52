package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// kubeJob decodes a manifest strictly with the Kubernetes API types (an unknown or misspelled field fails, as
// the API server would refuse it) and returns its Job spec.
func kubeJob(t *testing.T, file string) batchv1.JobSpec {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var kind struct {
		Kind string `json:"kind"`
	}
	if err := yaml.Unmarshal(b, &kind); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	switch kind.Kind {
	case "CronJob":
		var cj batchv1.CronJob
		if err := yaml.UnmarshalStrict(b, &cj); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return cj.Spec.JobTemplate.Spec
	case "Job":
		var j batchv1.Job
		if err := yaml.UnmarshalStrict(b, &j); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return j.Spec
	}
	t.Fatalf("%s: kind %q, want CronJob or Job", file, kind.Kind)
	return batchv1.JobSpec{}
}

// The manifests are Indexed Jobs whose pods run a folder of pipelines with one shard each, with flags jetflow
// has, Go's memory limit from the container's, and a state store the pods can share.
func TestKubernetesManifests(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/kubernetes/*.yaml")
	if len(files) < 2 {
		t.Fatalf("found %v", files)
	}
	var help strings.Builder
	run(t.Context(), []string{"run", t.TempDir(), "--help"}, &help, &help)
	for _, f := range files {
		spec := kubeJob(t, f)
		c := spec.Template.Spec.Containers[0]
		switch {
		case spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion:
			t.Errorf("%s: completionMode is not Indexed", f)
		case spec.Completions == nil || spec.Parallelism == nil || spec.BackoffLimitPerIndex == nil:
			t.Errorf("%s: completions, parallelism and backoffLimitPerIndex must be set", f)
		case spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever:
			t.Errorf("%s: restartPolicy must be Never for backoffLimitPerIndex", f)
		case !strings.Contains(strings.Join(c.Args, " "), "--shard $(SHARD_INDEX)/"+strconv.Itoa(int(*spec.Completions))):
			t.Errorf("%s: args %q do not shard by the completion index over %d", f, c.Args, *spec.Completions)
		}
		for _, a := range c.Args {
			if name, ok := strings.CutPrefix(a, "--"); ok && !strings.Contains(help.String(), "--"+name+" ") && !strings.Contains(help.String(), "--"+name+"\n") {
				t.Errorf("%s: --%s is not a flag of `jetflow run DIR`", f, name)
			}
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		if e := env["JETFLOW_MEMORY_LIMIT"]; e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
			t.Errorf("%s: JETFLOW_MEMORY_LIMIT does not come from limits.memory", f)
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("%s: no memory limit", f)
		}
	}
}

func TestMemoryLimitFromTheContainer(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want int64
		err  string
	}{
		{map[string]string{}, 0, ""},
		{map[string]string{"JETFLOW_MEMORY_LIMIT": "1073741824"}, 966367638, ""},
		{map[string]string{"JETFLOW_MEMORY_LIMIT": "1073741824", "GOMEMLIMIT": "500MiB"}, 0, ""},
		{map[string]string{"JETFLOW_MEMORY_LIMIT": "1Gi"}, 0, `JETFLOW_MEMORY_LIMIT="1Gi": want a number of bytes`},
	}
	for _, tt := range tests {
		got, err := memoryLimit(func(k string) string { return tt.env[k] })
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.HasPrefix(err.Error(), tt.err)) {
			t.Errorf("%v: %d, %v; want %d, %q", tt.env, got, err, tt.want, tt.err)
		}
	}
}

// The Dockerfile builds jetflow from a clone of its source (`go install ...@version` refuses a module whose go.mod
// replaces dependencies, as jetflow's does with third_party/), into a static binary (cgo off): it runs on a base
// image without libc.
func TestDockerfileBuildsAStaticBinary(t *testing.T) {
	b, err := os.ReadFile("../../deploy/docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`RUN git clone .* https://github.com/jetflow-dev/jetflow /src\n(?:#.*\n)*RUN cd /src && (CGO_ENABLED=0) go build -trimpath -ldflags="-s -w [^"]*" -o \S+ ./cmd/jetflow\n`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("the Dockerfile does not build cmd/jetflow with CGO_ENABLED=0:\n%s", b)
	}
	// With cgo off, Go links the binary itself, without libc or a dynamic loader; what is left to check is that
	// every package the command needs builds so (go list names one whose files all need cgo).
	list := exec.Command("go", "list", "-deps", "-f", "{{with .Error}}{{.}}{{end}}", ".")
	list.Env = append(os.Environ(), m[1])
	out, err := list.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("cmd/jetflow does not build with %s: %v\n%s", m[1], err, out)
	}
}

// The Indexed Job's contract, run locally: a pod per completion index, each running the manifest's command with
// the index Kubernetes gives it, all sharing a PostgreSQL state store and the output; one pod is SIGKILLed with
// everything it started after committing a partition, and started again as backoffLimitPerIndex would. Every
// partition of both pipelines (the second depends on the first) is committed once.
func TestIndexedJobContract(t *testing.T) {
	spec := kubeJob(t, "../../deploy/kubernetes/indexed-job.yaml")
	pods := int(*spec.Completions)
	c := spec.Template.Spec.Containers[0]
	dsn := pgtest.Start(t).CreateDatabase(t)
	dir := t.TempDir()
	state := "state:\n  type: postgres\n  dsn: ${STATE_DSN}\n"
	writeFile(t, dir, "pipelines/bronze.yaml", seqPipeline("bronze", 80_000, 2*pods, state))
	writeFile(t, dir, "pipelines/silver.yaml", seqPipeline("silver", 16_000, 2*pods, "depends_on: [bronze]\n"+state))
	expand := regexp.MustCompile(`\$\(([A-Z_][A-Z0-9_]*)\)`) // kubelet's $(VAR) in args
	pod := func(index int, extraEnv ...string) result {
		env := append([]string{"STATE_DSN=" + dsn, "SHARD_INDEX=" + strconv.Itoa(index), "JETFLOW_MEMORY_LIMIT=1073741824"}, extraEnv...)
		args := make([]string, len(c.Args))
		for i, a := range c.Args {
			args[i] = expand.ReplaceAllStringFunc(a, func(ref string) string {
				if ref == "$(SHARD_INDEX)" {
					return strconv.Itoa(index)
				}
				return ref
			})
		}
		return jetflow(t, dir, env, args...)
	}
	results := make([]result, pods)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 1 { // dies after its first Parquet commit, before the state store records it
				results[i] = pod(i, "JETFLOW_FAILPOINTS=engine.before-state-commit=kill")
				if results[i].code == exitOK {
					t.Errorf("pod 1 was not killed:\n%s", results[i].stderr)
				}
				results[i] = pod(i) // Kubernetes starts the index again
				return
			}
			results[i] = pod(i)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != exitOK {
			t.Fatalf("pod %d: exit %d\nstdout:\n%s\nstderr:\n%s", i, r.code, r.stdout, r.stderr)
		}
	}
	assertExactlyOnce(t, filepath.Join(dir, "out/bronze"), 80_000)
	assertExactlyOnce(t, filepath.Join(dir, "out/silver"), 16_000)
}
