package kafka

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

// selfSigned makes a certificate for 127.0.0.1 and writes it, as the CA to trust, to a PEM file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, ca
}

// TestSASLAndTLS reads from brokers that require SASL (each mechanism) or TLS, and checks that a wrong password
// fails without showing it.
func TestSASLAndTLS(t *testing.T) {
	cert, ca := selfSigned(t)
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(ca)
	pool.AppendCertsFromPEM(pem)
	for _, tc := range []struct {
		name      string
		cluster   []kfake.Opt
		client    []kgo.Opt // the test's producer
		sasl      SASLConfig
		tls       TLSConfig
		wantError string
	}{
		{"plain", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "jet", "s3cret-plain")},
			[]kgo.Opt{kgo.SASL(plain.Auth{User: "jet", Pass: "s3cret-plain"}.AsMechanism())},
			SASLConfig{Mechanism: "plain", User: "jet", Password: "s3cret-plain"}, TLSConfig{}, ""},
		{"scram-sha-256", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "jet", "s3cret-256")},
			[]kgo.Opt{kgo.SASL(scram.Auth{User: "jet", Pass: "s3cret-256"}.AsSha256Mechanism())},
			SASLConfig{Mechanism: "scram-sha-256", User: "jet", Password: "s3cret-256"}, TLSConfig{}, ""},
		{"scram-sha-512 over TLS", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "jet", "s3cret-512"),
			kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}})},
			[]kgo.Opt{kgo.SASL(scram.Auth{User: "jet", Pass: "s3cret-512"}.AsSha512Mechanism()), kgo.DialTLSConfig(&tls.Config{RootCAs: pool})},
			SASLConfig{Mechanism: "scram-sha-512", User: "jet", Password: "s3cret-512"}, TLSConfig{Enabled: true, CAFile: ca}, ""},
		{"wrong password", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "jet", "right-one")},
			[]kgo.Opt{kgo.SASL(scram.Auth{User: "jet", Pass: "right-one"}.AsSha256Mechanism())},
			SASLConfig{Mechanism: "scram-sha-256", User: "jet", Password: "wrong-one"}, TLSConfig{}, "check sasl: (mechanism, user, password)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := kafkatest.Start(t, tc.cluster...)
			prod := kc.Client(t, tc.client...)
			if err := prod.ProduceSync(t.Context(), &kgo.Record{Topic: "auth", Value: orderJSON(1)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := newTestConsumer(t, mem, Config{Brokers: kc.Addrs, Topics: []string{"auth"}, SASL: tc.sasl, TLS: tc.tls,
				Schema: []Column{{Name: "id", Type: "int64"}}})
			defer c.Close()
			c.ResumeWatermark("", false)
			parts, err := c.Partitions(t.Context(), stage.RunInstance{Label: "r"})
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) || strings.Contains(err.Error(), "wrong-one") {
					t.Fatalf("error %v, want %q without the password", err, tc.wantError)
				}
				return
			}
			if err != nil || len(parts) != 1 {
				t.Fatalf("partitions %v, %v", parts, err)
			}
			rows := int64(0)
			if err := c.Read(t.Context(), parts[0], func(rec arrow.RecordBatch) error { rows += rec.NumRows(); return nil }); err != nil {
				t.Fatal(err)
			}
			if rows != 1 {
				t.Errorf("read %d rows, want 1", rows)
			}
		})
	}
}
