package kafka

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/jetflow-dev/jetflow/stage"
)

// saslWatch is a franz-go hook that notes whether the last SASL authentication ended with the broker closing
// the connection, which is how some brokers (and kfake) refuse a login instead of answering
// SASL_AUTHENTICATION_FAILED: the request then fails with a bare EOF that says nothing of why.
type saslWatch struct{ refused atomic.Bool }

func (w *saslWatch) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key == kmsg.SASLAuthenticate.Int16() {
		w.refused.Store(errors.Is(e2e.ReadErr, io.EOF) || errors.Is(e2e.ReadErr, io.ErrUnexpectedEOF))
	}
}

// classify marks msg, the consumer's error for the brokers' error err, as fatal when the brokers refused the
// login or the permission: a retry would log in with the same credentials. Other errors (a broker down, a
// leader moving, a timeout) are returned unchanged.
func (c *Consumer) classify(err, msg error) error {
	eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), eof && c.cfg.SASL.Mechanism != "" && c.sasl.refused.Load():
		return stage.Fatal("authentication failed", "check sasl: (mechanism, user, password)", msg)
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return stage.Fatal("authentication failed", "the brokers do not offer this sasl.mechanism", msg)
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.GroupAuthorizationFailed):
		return stage.Fatal("access denied", "grant the sasl user read and describe access to the topics", msg)
	}
	return msg
}

// refusedLogin asks the brokers for their metadata once and returns the fatal error of a refused login or
// permission, else nil (brokers that are down are waited for, as before). A stream needs it: its consumer group
// retries a refused login forever without a word to the poll loop.
func (c *Consumer) refusedLogin(ctx context.Context) error {
	adm, err := c.adminClient()
	if err != nil {
		return nil // the stream's own client reports it
	}
	if _, err := adm.BrokerMetadata(ctx); err != nil {
		if err := c.connErr("describe the brokers", err); stage.IsFatal(err) {
			return err
		}
	}
	return nil
}
