package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/consumers/httpapi"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/conformance"
)

// windowAPI serves 40 records per 6-hour window of updated_since, in pages of offset and limit; each record's
// id is unique across windows.
func windowAPI(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		since, err := time.Parse(time.RFC3339, q.Get("updated_since"))
		if err != nil {
			http.Error(w, "bad updated_since", http.StatusBadRequest)
			return
		}
		base := since.Unix() / 3600 * 1000
		off, _ := strconv.Atoi(q.Get("offset"))
		lim, _ := strconv.Atoi(q.Get("limit"))
		var sb strings.Builder
		sb.WriteString(`{"data": [`)
		for i := off; i < min(off+lim, 40); i++ {
			if i > off {
				sb.WriteByte(',')
			}
			id := base + int64(i)
			var amount any = float64(id) / 4
			if i%7 == 0 {
				amount = nil
			}
			fmt.Fprintf(&sb, `{"id": %d, "amount": %v, "name": "r%d", "at": "%s", "tags": ["t%d", null]}`,
				id, jsonOrNull(amount), id, since.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), i%3)
		}
		sb.WriteString(`], "meta": {"total": 40}}`)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, sb.String())
	}))
	t.Cleanup(srv.Close)
	return srv
}

func jsonOrNull(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}

func TestConformance(t *testing.T) {
	reg, ok := stage.Lookup(stage.KindConsumer, "httpapi")
	if !ok {
		t.Fatal(`consumer "httpapi" is not registered`)
	}
	srv := windowAPI(t)
	conformance.Consumers(t, conformance.ConformanceConsumer{
		New: func(t *testing.T, mem memory.Allocator) stage.Consumer {
			cfg := reg.NewConfig().(*httpapi.Config)
			*cfg = httpapi.Config{
				URL:     srv.URL + "/orders",
				Records: "data",
				Schema: []httpapi.Column{
					{Name: "id", Type: "int64"}, {Name: "amount", Type: "float64"}, {Name: "name", Type: "string"},
					{Name: "at", Type: "timestamp[s, UTC]"}, {Name: "tags", Type: "list<string>"},
				},
				Pagination: httpapi.Pagination{Type: "offset", Limit: 10, TotalPath: "meta.total"},
				Partition:  httpapi.PartitionConfig{Every: stage.Duration(6 * time.Hour), SinceParam: "updated_since", UntilParam: "updated_until"},
				BatchRows:  10,
				Retries:    2,
			}
			src, err := reg.Build(stage.BuildContext{Pipeline: "conformance", Alloc: mem}, cfg)
			if err != nil {
				t.Fatalf("building the httpapi consumer: %v", err)
			}
			return src.(stage.Consumer)
		},
		KeyColumns: []string{"id"},
	})
}
