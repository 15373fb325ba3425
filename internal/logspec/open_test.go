package logspec

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/twmb/franz-go/pkg/kfake"
)

// env is a fake environment for Options.Getenv.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// logger writes the backends' diagnostics to the test's output.
func logger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// broker starts an in-process Kafka-protocol broker with opts (TLS, SASL)
// and returns its address. These tests need brokers configured a certain
// way, so they never use the FLINT_TEST_KAFKA one.
func broker(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

// certs makes a CA, writes it to a PEM file, and returns a server TLS
// configuration with a certificate for 127.0.0.1 signed by it.
func certs(t *testing.T) (server *tls.Config, caFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "flint test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kfake"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der, caDER}, PrivateKey: key}}}, caFile
}

// exercise creates a topic, appends to it and reads it back.
func exercise(t *testing.T, l log.Log) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	recs := []log.Record{{Key: []byte("k"), Value: []byte("v1")}, {Key: []byte("k"), Value: []byte("v2")}}
	if err := l.Append(ctx, "events", recs); err != nil {
		t.Fatalf("Append: %v", err)
	}
	got, err := l.Read(ctx, "events", recs[0].Partition, 0, log.ReadOptions{})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(got) != 2 || string(got[0].Value) != "v1" || string(got[1].Value) != "v2" {
		t.Fatalf("Read = %d records, want v1 and v2", len(got))
	}
}

func TestOpenKafka(t *testing.T) {
	creds := env(EnvUsername, "flint", EnvPassword, "s3cret")
	serverTLS, caFile := certs(t)
	for _, c := range []struct {
		name    string
		broker  []kfake.Opt
		options string // after "?"
	}{
		{"plaintext", nil, ""},
		{"sasl=plain", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "flint", "s3cret")}, "sasl=plain"},
		{"sasl=scram-sha-256", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "flint", "s3cret")}, "sasl=scram-sha-256"},
		{"sasl=scram-sha-512", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "flint", "s3cret")}, "sasl=SCRAM-SHA-512"},
		{"ca", []kfake.Opt{kfake.TLS(serverTLS)}, "ca=" + caFile},
		{"insecure", []kfake.Opt{kfake.TLS(serverTLS)}, "insecure=true"},
		{"ca+sasl=scram-sha-256", []kfake.Opt{kfake.TLS(serverTLS), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "flint", "s3cret")},
			"tls=true&ca=" + caFile + "&sasl=scram-sha-256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			spec := "kafka:" + broker(t, c.broker...)
			if c.options != "" {
				spec += "?" + c.options
			}
			l, err := Open(ctxFor(t, 30*time.Second), spec, Options{Getenv: creds, Logger: logger(t)})
			if err != nil {
				t.Fatalf("Open(%q): %v", spec, err)
			}
			defer l.Close()
			exercise(t, l)
		})
	}
}

// TestOpenKafkaRefused checks that what a broker refuses fails Open, at
// once and with an error that says why, rather than hanging. kfake closes
// the connection on bad credentials instead of answering
// SASL_AUTHENTICATION_FAILED as Kafka does, so the authentication cases
// check the message, which Open gives in both cases.
func TestOpenKafkaRefused(t *testing.T) {
	serverTLS, caFile := certs(t)
	_, otherCA := certs(t)
	sasl := func(m string) []kfake.Opt {
		return []kfake.Opt{kfake.EnableSASL(), kfake.Superuser(m, "flint", "s3cret")}
	}
	for _, c := range []struct {
		name    string
		broker  []kfake.Opt
		options string
		env     func(string) string
		want    string // in the error
		is      error  // the error wraps it, if not nil
	}{
		{"plain wrong password", sasl("PLAIN"), "sasl=plain", env(EnvUsername, "flint", EnvPassword, "wrong"),
			`authentication failed for user "flint" (sasl=plain, credentials from FLINT_KAFKA_USERNAME and FLINT_KAFKA_PASSWORD): `, nil},
		{"plain unknown user", sasl("PLAIN"), "sasl=plain", env(EnvUsername, "nobody", EnvPassword, "s3cret"),
			`authentication failed for user "nobody"`, nil},
		{"scram-sha-256 wrong password", sasl("SCRAM-SHA-256"), "sasl=scram-sha-256", env(EnvUsername, "flint", EnvPassword, "wrong"),
			`authentication failed for user "flint"`, nil},
		{"scram-sha-512 wrong password", sasl("SCRAM-SHA-512"), "sasl=scram-sha-512", env(EnvUsername, "flint", EnvPassword, "wrong"),
			`authentication failed for user "flint"`, nil},
		{"scram-sha-512 against a scram-sha-256 user", sasl("SCRAM-SHA-256"), "sasl=scram-sha-512", env(EnvUsername, "flint", EnvPassword, "s3cret"),
			`authentication failed for user "flint"`, nil},
		{"no credentials", sasl("PLAIN"), "sasl=plain", env(),
			"sasl=plain needs the user name in FLINT_KAFKA_USERNAME and the password in FLINT_KAFKA_PASSWORD; FLINT_KAFKA_USERNAME and FLINT_KAFKA_PASSWORD are not set", nil},
		{"no password", sasl("SCRAM-SHA-256"), "sasl=scram-sha-256", env(EnvUsername, "flint"),
			"; FLINT_KAFKA_PASSWORD is not set", nil},
		{"other CA", []kfake.Opt{kfake.TLS(serverTLS)}, "ca=" + otherCA, nil, "certificate signed by unknown authority", nil},
		{"system roots", []kfake.Opt{kfake.TLS(serverTLS)}, "tls=true", nil, "certificate signed by unknown authority", nil},
		{"missing CA file", []kfake.Opt{kfake.TLS(serverTLS)}, "ca=" + caFile + ".missing", nil, "ca: open " + caFile + ".missing", os.ErrNotExist},
		{"CA file without PEM", []kfake.Opt{kfake.TLS(serverTLS)}, "ca=" + os.Args[0], nil, "ca: no PEM certificate in " + os.Args[0], nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			spec := "kafka:" + broker(t, c.broker...) + "?" + c.options
			start := time.Now()
			l, err := Open(ctxFor(t, 20*time.Second), spec, Options{Getenv: c.env, Logger: logger(t)})
			if err == nil {
				l.Close()
				t.Fatalf("Open(%q) succeeded", spec)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Open took %v to fail", d)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open(%q):\n got %v\nwant it to contain %q", spec, err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("Open(%q): %v does not wrap %v", spec, err, c.is)
			}
			if c.env != nil && strings.Contains(err.Error(), c.env(EnvPassword)) && c.env(EnvPassword) != "" {
				t.Fatalf("the error shows the password: %v", err)
			}
			t.Logf("%v", err)
		})
	}
}

// TestOpenKafkaEnvironment checks that the credentials come from the
// process's environment when Options.Getenv is nil.
func TestOpenKafkaEnvironment(t *testing.T) {
	spec := "kafka:" + broker(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "flint", "s3cret")) + "?sasl=scram-sha-256"
	t.Setenv(EnvUsername, "flint")
	t.Setenv(EnvPassword, "s3cret")
	l, err := Open(ctxFor(t, 30*time.Second), spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	exercise(t, l)

	t.Setenv(EnvPassword, "")
	if l, err := Open(ctxFor(t, 30*time.Second), spec, Options{}); err == nil {
		l.Close()
		t.Fatal("Open without FLINT_KAFKA_PASSWORD succeeded")
	} else if !strings.Contains(err.Error(), "FLINT_KAFKA_PASSWORD is not set") {
		t.Fatalf("Open without FLINT_KAFKA_PASSWORD: %v", err)
	}
}

func TestOpenDir(t *testing.T) {
	ctx := ctxFor(t, 30*time.Second)
	dir := filepath.Join(t.TempDir(), "log")
	spec := "dir:" + dir

	// The read-only log of a missing directory is an error: nothing is
	// created.
	if l, err := Open(ctx, spec, Options{ReadOnly: true}); err == nil || l != nil {
		t.Fatalf("Open read-only of a missing directory = %v, %v; want nil and an error", l, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open read-only created %s: %v", dir, err)
	}

	w, err := Open(ctx, spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, ok := w.(*disk.Log); !ok {
		t.Fatalf("Open(%q) = %T, want *disk.Log", spec, w)
	}
	exercise(t, w)

	// Beside the writer, read-only: reads see what it wrote, and changes
	// are refused.
	r, err := Open(ctx, spec, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	info, err := r.Describe(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, p := range info.Partitions {
		total += p.Latest - p.Earliest
	}
	if len(info.Partitions) != 2 || total != 2 {
		t.Fatalf("read-only log: %d partitions, %d records; want 2 and 2", len(info.Partitions), total)
	}
	if err := r.Append(ctx, "events", []log.Record{{Value: []byte("x")}}); !errors.Is(err, disk.ErrReadOnly) {
		t.Fatalf("Append to the read-only log: %v, want disk.ErrReadOnly", err)
	}
	if err := r.CreateTopic(ctx, "other", log.TopicConfig{}); !errors.Is(err, disk.ErrReadOnly) {
		t.Fatalf("CreateTopic on the read-only log: %v, want disk.ErrReadOnly", err)
	}
}

func TestOpenBadSpec(t *testing.T) {
	_, err := Open(context.Background(), "kafka:a:1?sasl=md5", Options{})
	want := `--log "kafka:a:1?sasl=md5": unknown sasl mechanism "md5" (want plain, scram-sha-256 or scram-sha-512)`
	if err == nil || err.Error() != want {
		t.Fatalf("Open: %v, want %s", err, want)
	}
	for _, s := range []Spec{{}, {Backend: "s3"}} {
		if l, err := s.Open(context.Background(), Options{}); err == nil {
			l.Close()
			t.Fatalf("%#v.Open succeeded", s)
		}
	}
}

// ExampleParse shows a spec with every kafka: option, and its canonical form.
func ExampleParse() {
	s, err := Parse("kafka:k1:9093,k2:9093?sasl=SCRAM-SHA-512&ca=/etc/flint/kafka-ca.pem")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Brokers, s.TLS, s.CAFile, s.SASL)
	fmt.Println(s)
	// Output:
	// [k1:9093 k2:9093] true /etc/flint/kafka-ca.pem scram-sha-512
	// kafka:k1:9093,k2:9093?tls=true&ca=/etc/flint/kafka-ca.pem&sasl=scram-sha-512
}
