package remote

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// bearer sends the shared secret with every call as "authorization: Bearer …".
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: the secret may travel over plain TCP
// on a trusted network; set TLSFiles to encrypt it.
func (bearer) RequireTransportSecurity() bool { return false }

// dialOptions are the client options for a peer with the shared secret.
func dialOptions(secret string) []grpc.DialOption {
	var opts []grpc.DialOption
	if secret != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(secret)))
	}
	return opts
}

// authInterceptor refuses calls that lack the shared secret, or carry
// another, and reports each refusal to r. It is nil when there is no secret.
func authInterceptor(secret string, r *refusals) grpc.UnaryServerInterceptor {
	if secret == "" {
		return nil
	}
	want := []byte("Bearer " + secret)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		got := md.Get("authorization")
		if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), want) != 1 {
			why := "did not match"
			if len(got) == 0 {
				why = "was missing"
			}
			r.refuse(ctx, why)
			return nil, status.Error(codes.Unauthenticated, "remote: missing or wrong shared secret")
		}
		return h(ctx, req)
	}
}

// refusals logs refused calls, at most once a minute per peer host, and
// counts every one. It is safe for concurrent use.
type refusals struct {
	logger *slog.Logger
	side   string // "driver" or "worker NAME", for the log
	count  func() // nil: not counted

	mu   sync.Mutex
	last map[string]time.Time // peer host → when last logged
}

func (r *refusals) refuse(ctx context.Context, why string) {
	if r.count != nil {
		r.count()
	}
	addr := "an unknown address"
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	r.mu.Lock()
	now := time.Now()
	if t, ok := r.last[host]; ok && now.Sub(t) < time.Minute {
		r.mu.Unlock()
		return
	}
	if r.last == nil {
		r.last = map[string]time.Time{}
	}
	r.last[host] = now
	r.mu.Unlock()
	r.logger.Warn(fmt.Sprintf("remote: %s refused a call from %s: the shared secret %s (further refusals from %s are not logged for a minute)", r.side, addr, why, host),
		"peer", addr)
}

// TLSFiles turns on TLS between a driver and its workers. Each side serves
// with its certificate and key, and checks the certificates of the side it
// dials against CAFile (the driver dials workers back, so a worker's
// certificate must name the address it registers with).
type TLSFiles struct {
	CertFile, KeyFile string // PEM certificate and private key this side serves with
	CAFile            string // PEM roots the peer's certificate must chain to; "" means the system roots
}

// transport returns the server and dial options for t; nil t means plain TCP.
func (t *TLSFiles) transport() (grpc.ServerOption, grpc.DialOption, error) {
	if t == nil {
		return nil, grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	srv, err := credentials.NewServerTLSFromFile(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("remote: TLS certificate %s and key %s: %w", t.CertFile, t.KeyFile, err)
	}
	var cli credentials.TransportCredentials
	if t.CAFile == "" {
		cli = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	} else if cli, err = credentials.NewClientTLSFromFile(t.CAFile, ""); err != nil {
		return nil, nil, fmt.Errorf("remote: TLS CA file %s: %w", t.CAFile, err)
	}
	return grpc.Creds(srv), grpc.WithTransportCredentials(cli), nil
}
