package stage_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
)

type testColumn struct {
	Name string `yaml:"name" required:"true"`
	Type string `yaml:"type" default:"int64" enum:"int64,string"`
}

type testPartition struct {
	Every stage.Duration `yaml:"every" default:"1h" min:"1s"`
	Count int            `yaml:"count" min:"1" max:"64"`
}

type testConfig struct {
	Path      string                `yaml:"path" required:"true"`
	Retries   int                   `yaml:"retries" default:"3" min:"0"`
	Header    bool                  `yaml:"header" default:"true"`
	Size      stage.ByteSize        `yaml:"size" default:"16MiB" min:"1KiB" max:"1GiB"`
	Mode      string                `yaml:"mode" default:"fast" enum:"fast,safe"`
	Token     stage.Secret          `yaml:"token" enum:"a,b"`
	Kinds     []string              `yaml:"kinds" enum:"x,y"`
	Partition testPartition         `yaml:"partition"`
	Columns   []testColumn          `yaml:"columns"`
	ByName    map[string]testColumn `yaml:"by_name"`
	Fanout    *testPartition        `yaml:"fanout"`
	Ignored   string                `yaml:"-"`
}

func errPaths(err error) map[string]string {
	fields, other := stage.FieldErrors(err)
	out := map[string]string{}
	for _, fe := range fields {
		out[fe.Path] = fe.Err.Error()
	}
	for _, e := range other {
		out["?"] = e.Error()
	}
	return out
}

func TestCompleteDefaultsAndChecks(t *testing.T) {
	set := func(keys ...string) func(string) bool {
		return func(p string) bool {
			for _, k := range keys {
				if k == p {
					return true
				}
			}
			return false
		}
	}
	for _, tc := range []struct {
		name    string
		cfg     testConfig
		present func(string) bool
		check   func(t *testing.T, c *testConfig)
		errs    map[string]string
	}{
		{
			name: "zero config: defaults, required reported",
			check: func(t *testing.T, c *testConfig) {
				want := testConfig{Retries: 3, Header: true, Size: 16 << 20, Mode: "fast", Partition: testPartition{Every: stage.Duration(time.Hour)}}
				if !reflect.DeepEqual(*c, want) {
					t.Errorf("got %+v, want %+v", *c, want)
				}
			},
			errs: map[string]string{"path": "missing required key"},
		},
		{
			name:    "present zero values are kept",
			cfg:     testConfig{Path: "p"},
			present: set("path", "retries", "header", "partition"),
			check: func(t *testing.T, c *testConfig) {
				if c.Retries != 0 || c.Header || c.Mode != "fast" {
					t.Errorf("got retries %d header %v mode %q, want 0, false, fast", c.Retries, c.Header, c.Mode)
				}
			},
		},
		{
			name: "nested paths",
			cfg: testConfig{Path: "p", Partition: testPartition{Count: 65},
				Columns: []testColumn{{Name: "a"}, {Type: "strin"}},
				ByName:  map[string]testColumn{"k": {Name: "k", Type: "float"}},
				Fanout:  &testPartition{Count: -1}},
			check: func(t *testing.T, c *testConfig) {
				if c.Columns[0].Type != "int64" || c.Fanout.Every != stage.Duration(time.Hour) {
					t.Errorf("nested defaults not applied: %+v %+v", c.Columns, c.Fanout)
				}
			},
			errs: map[string]string{
				"partition.count":   "65 is out of range 1-64",
				"columns[1].name":   "missing required key",
				"columns[1].type":   `"strin" is not one of int64, string; did you mean "string"?`,
				"by_name.k.type":    `"float" is not one of int64, string`,
				"fanout.count":      "-1 is out of range 1-64",
				"partition.every":   "",
				"columns[0].type":   "",
				"by_name.k.name":    "",
				"fanout.every":      "",
				"kinds":             "",
				"size":              "",
				"token":             "",
				"unrelated.missing": "",
			},
		},
		{
			name:    "bounds and enums of present values",
			cfg:     testConfig{Path: "p", Size: 10, Mode: "slow", Token: "hunter2", Kinds: []string{"x", "zz"}, Partition: testPartition{Every: stage.Duration(time.Millisecond)}},
			present: set("path", "size", "mode", "token", "kinds", "partition.every"),
			errs: map[string]string{
				"size":            "10 is out of range 1KiB-1GiB",
				"mode":            `"slow" is not one of fast, safe`,
				"token":           "the value is not one of a, b",
				"kinds[1]":        `"zz" is not one of x, y`,
				"partition.every": "want at least 1s, got 1ms",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			got := errPaths(stage.Complete(&c, tc.present))
			for path, want := range tc.errs {
				if want == "" {
					if msg, ok := got[path]; ok {
						t.Errorf("%s: unexpected error %q", path, msg)
					}
					continue
				}
				if got[path] != want {
					t.Errorf("%s: got error %q, want %q", path, got[path], want)
				}
				delete(got, path)
			}
			for path, msg := range got {
				if _, listed := tc.errs[path]; !listed {
					t.Errorf("%s: unexpected error %q", path, msg)
				}
			}
			for _, e := range got {
				if strings.Contains(e, "hunter2") {
					t.Errorf("a secret is printed: %s", e)
				}
			}
			if tc.check != nil {
				tc.check(t, &c)
			}
		})
	}
}

func TestCompleteMissingIsErrMissing(t *testing.T) {
	err := stage.Complete(&testConfig{}, nil)
	if !errors.Is(err, stage.ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
}

func TestCompleteBadDefaultIsReported(t *testing.T) {
	type bad struct {
		N int `yaml:"n" default:"many"`
	}
	err := stage.Complete(&bad{}, nil)
	if err == nil || !strings.Contains(err.Error(), `n: internal error: default "many" of N`) {
		t.Fatalf("got %v, want an internal error naming the default", err)
	}
}

func TestCompleteRejectsNonStruct(t *testing.T) {
	for _, cfg := range []any{nil, 3, testConfig{}, (*testConfig)(nil)} {
		if err := stage.Complete(cfg, nil); err == nil {
			t.Errorf("Complete(%T) gave no error", cfg)
		}
	}
}

func TestFields(t *testing.T) {
	fields := stage.Fields(reflect.TypeFor[testConfig]())
	var keys []string
	for _, f := range fields {
		keys = append(keys, f.Key)
	}
	if got, want := strings.Join(keys, ","), "path,retries,header,size,mode,token,kinds,partition,columns,by_name,fanout"; got != want {
		t.Errorf("keys %s, want %s", got, want)
	}
	size := fields[3]
	if size.Default != "16MiB" || !size.HasDefault || size.Min != "1KiB" || size.Max != "1GiB" {
		t.Errorf("size field %+v", size)
	}
	if !fields[0].Required || !reflect.DeepEqual(fields[4].Enum, []string{"fast", "safe"}) {
		t.Errorf("required/enum not read: %+v %+v", fields[0], fields[4])
	}
}

func TestGivenKeepsChosenZeroes(t *testing.T) {
	c := testConfig{Path: "p", Columns: []testColumn{{Name: "a"}}, ByName: map[string]testColumn{"k": {Name: "k", Type: "string"}}}
	// columns[0].name and by_name.k.type are found given through a list and a map: no missing key, no default.
	if err := stage.Complete(&c, stage.Given(&c, "header", "retries")); err != nil {
		t.Fatal(err)
	}
	if c.Header || c.Retries != 0 || c.Columns[0].Type != "int64" || c.Mode != "fast" || c.ByName["k"].Type != "string" {
		t.Errorf("got header %v retries %d columns[0].type %q mode %q by_name.k.type %q; want false, 0, int64, fast, string",
			c.Header, c.Retries, c.Columns[0].Type, c.Mode, c.ByName["k"].Type)
	}
}

type buildTestConfig struct {
	Name  string `yaml:"name" required:"true"`
	Limit int    `yaml:"limit" default:"8" min:"1"`
}

type buildTestTransformer struct {
	stage.Transformer
	bc  stage.BuildContext
	cfg buildTestConfig
}

func init() {
	stage.RegisterTransformer("buildtest", "Registered by stage's tests.", func(bc stage.BuildContext, c *buildTestConfig) (stage.Transformer, error) {
		return &buildTestTransformer{bc: bc, cfg: *c}, nil
	})
}

// TestRegistrationBuild: whatever built the config, the constructor gets it complete, with an allocator and a
// logger; a config that breaks its tags never reaches it.
func TestRegistrationBuild(t *testing.T) {
	reg, ok := stage.Lookup(stage.KindTransformer, "buildtest")
	if !ok {
		t.Fatal("buildtest is not registered")
	}
	v, err := reg.Build(stage.BuildContext{}, &buildTestConfig{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	got := v.(*buildTestTransformer)
	if got.bc.Alloc == nil || got.bc.Logger == nil || got.cfg.Limit != 8 {
		t.Errorf("constructor got alloc %v, logger %v, limit %d; want both set and limit 8", got.bc.Alloc, got.bc.Logger, got.cfg.Limit)
	}
	for _, tc := range []struct {
		cfg     any
		present func(string) bool
		want    string
	}{
		{&buildTestConfig{}, nil, "name: missing required key"},
		{&buildTestConfig{Name: "a"}, func(p string) bool { return p == "name" || p == "limit" }, "limit: want at least 1, got 0"},
		{&testConfig{}, nil, "takes a *stage_test.buildTestConfig"},
	} {
		if _, err := reg.BuildPresent(stage.BuildContext{}, tc.cfg, tc.present); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("BuildPresent(%T): %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	typed, err := stage.Build(stage.BuildContext{}, &buildTestConfig{Name: "b"}, func(bc stage.BuildContext, c *buildTestConfig) (*buildTestTransformer, error) {
		return &buildTestTransformer{bc: bc, cfg: *c}, nil
	})
	if err != nil || typed.bc.Logger == nil || typed.cfg.Limit != 8 {
		t.Errorf("stage.Build: %v, %+v", err, typed)
	}
}

// TestListDefault: a list's default is written comma-separated and checked against its enum like a given list.
func TestListDefault(t *testing.T) {
	type cfg struct {
		On []string `yaml:"on" default:"failure, recovery" enum:"failure,recovery,freshness"`
	}
	var c cfg
	if err := stage.Complete(&c, nil); err != nil || !reflect.DeepEqual(c.On, []string{"failure", "recovery"}) {
		t.Errorf("got %q, %v; want the default [failure recovery]", c.On, err)
	}
	c = cfg{On: []string{"freshnes"}}
	if err := stage.Complete(&c, nil); err == nil || !strings.Contains(err.Error(), `did you mean "freshness"`) {
		t.Errorf("a given list item out of the enum: %v", err)
	}
}
