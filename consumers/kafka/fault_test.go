package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

// A refused login or permission is fatal, so the engine does not log in again for every partition; brokers
// that cannot be reached are not.
func TestFatalFaults(t *testing.T) {
	super := []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw")}
	closed := testkit.ClosedAddr(t)
	tests := []struct {
		name    string
		cluster []kfake.Opt
		sasl    SASLConfig
		brokers []string // default: the cluster's
		reason  string   // "" when not fatal
	}{
		{"wrong scram password", super, SASLConfig{Mechanism: "scram-sha-256", User: "admin", Password: "wrong"}, nil, "authentication failed"},
		{"unknown user", super, SASLConfig{Mechanism: "scram-sha-256", User: "nobody", Password: "pw"}, nil, "authentication failed"},
		{"wrong plain password", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "admin-pw"),
			kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw")},
			SASLConfig{Mechanism: "plain", User: "admin", Password: "wrong"}, nil, "authentication failed"},
		{"no ACL for the user", append(super[:2:2], kfake.EnableACLs(), kfake.User("SCRAM-SHA-256", "reader", "reader-pw")),
			SASLConfig{Mechanism: "scram-sha-256", User: "reader", Password: "reader-pw"}, nil, "access denied"},
		{"brokers down", nil, SASLConfig{}, []string{closed}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kc := kafkatest.Start(t, tc.cluster...)
			var prodOpts []kgo.Opt
			if tc.cluster != nil {
				prodOpts = append(prodOpts, kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha256Mechanism()))
			}
			prod := kc.Client(t, prodOpts...)
			if err := prod.ProduceSync(t.Context(), &kgo.Record{Topic: "auth", Value: orderJSON(1)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			brokers := kc.Addrs
			if tc.brokers != nil {
				brokers = tc.brokers
			}
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := newTestConsumer(t, mem, Config{Brokers: brokers, Topics: []string{"auth"}, SASL: tc.sasl,
				Schema: []Column{{Name: "id", Type: "int64"}}})
			defer c.Close()
			c.ResumeWatermark("", false)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			err := testkit.ReadErr(ctx, c)
			testkit.AssertFault(t, err, tc.reason)
		})
	}
}
