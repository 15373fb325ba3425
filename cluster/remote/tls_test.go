package remote

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// TLS files that use the certificate as its own CA.
func selfSigned(t *testing.T) *TLSFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flint test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := &TLSFiles{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), CAFile: filepath.Join(dir, "cert.pem")}
	if err := os.WriteFile(f.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTLS(t *testing.T) {
	files := selfSigned(t)
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second, TLS: files, Secret: "s"})

	// A worker speaking plain TCP to a TLS driver never registers.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := RunWorker(ctx, WorkerConfig{Driver: d.Addr(), Secret: "s", Logger: quiet()}); err == nil {
		t.Fatal("a plain-TCP worker ran against a TLS driver")
	}
	if n := len(d.Members()); n != 0 {
		t.Fatalf("%d workers registered over plain TCP", n)
	}

	wctx, wcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunWorker(wctx, WorkerConfig{Driver: d.Addr(), Secret: "s", TLS: files, Logger: quiet()})
	}()
	defer func() { wcancel(); <-done }()
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	if err := d.WaitWorkers(rctx, 1); err != nil {
		t.Fatal(err)
	}
	ds, err := d.Load(rctx, fileSources(t, 300, 3), "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := cluster.Aggregate(rctx, d, ds, sumTask, &sumArgs{FailPart: -1})
	if err != nil || p.Rows != 300 {
		t.Fatalf("aggregate over TLS: %+v, %v", p, err)
	}

	if _, err := NewDriver(Config{TLS: &TLSFiles{CertFile: "/no/cert", KeyFile: "/no/key"}}); err == nil {
		t.Fatal("NewDriver with missing TLS files: no error")
	}
	if _, err := NewDriver(Config{HeartbeatInterval: time.Second, HeartbeatTimeout: time.Second}); err == nil {
		t.Fatal("NewDriver with a heartbeat timeout no longer than the interval: no error")
	}
}
