package clickhouse

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go"
	"github.com/ClickHouse/ch-go/proto"
)

// A server older than ch-go supports fails every query with UNKNOWN_SETTING (stock ch-go against Debian's 18.16:
// "Unknown setting P"); the error says the server is too old and which version is needed, not that a setting is
// wrong. The same code from a new enough server is a real unknown setting and gets no such hint.
func TestQueryErrServerTooOld(t *testing.T) {
	debian := &proto.ServerHello{Name: "ClickHouse", Major: 18, Minor: 16, Patch: 1, Revision: 54412}
	recent := &proto.ServerHello{Name: "ClickHouse", Major: 24, Minor: 8, Patch: 4, Revision: 54472}
	unknownSetting := func(name string) error {
		return fmt.Errorf("handle packet: %w", &ch.Exception{Code: proto.ErrUnknownSetting, Name: "DB::Exception",
			Message: "DB::Exception: Unknown setting " + name})
	}
	tests := []struct {
		name    string
		server  *proto.ServerHello
		err     error
		want    []string
		notWant string
	}{
		{"18.16 misreads the query", debian, unknownSetting("P"),
			[]string{"server error UNKNOWN_SETTING", "Unknown setting P", "ClickHouse 18.16.1", "revision 54412",
				"older than revision 54420", "upgrade the server to ClickHouse 19.9 or later"}, ""},
		{"a typo in settings on a recent server", recent, unknownSetting("max_thread"),
			[]string{"server error UNKNOWN_SETTING", "Unknown setting max_thread"}, "upgrade"},
		{"another error from 18.16", debian,
			&ch.Exception{Code: proto.ErrUnknownTable, Name: "DB::Exception", Message: "DB::Exception: Table db.t doesn't exist."},
			[]string{"UNKNOWN_TABLE", "doesn't exist"}, "upgrade"},
		{"before any connection", nil, unknownSetting("P"), []string{"Unknown setting P"}, "upgrade"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Consumer{cfg: Config{Addr: "127.0.0.1:9000"}}
			if tt.server != nil {
				c.server.Store(tt.server)
			}
			got := c.queryErr("read the columns of db.t", tt.err).Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("error lacks %q:\n%s", w, got)
				}
			}
			if tt.notWant != "" && strings.Contains(got, tt.notWant) {
				t.Errorf("error has %q, which it must not:\n%s", tt.notWant, got)
			}
		})
	}
}
