package logspec

import (
	"context"

	"github.com/segmentio/kafka-go/sasl"
	fsasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SCRAM (RFC 5802) comes from franz-go's pkg/sasl/scram, adapted to
// kafka-go's sasl.Mechanism: kafka-go's own sasl/scram needs
// github.com/xdg-go/scram, a module this one does not require, while
// franz-go is required already (for kfake) and its SCRAM uses only the
// standard library. Like Kafka's Java client, it does not SASLprep the
// user name or password: they are sent as given.

// scramMechanism is SCRAM-SHA-256 or SCRAM-SHA-512 as a kafka-go
// sasl.Mechanism. It is safe for concurrent use: each Start begins a
// session of its own.
type scramMechanism struct {
	user string
	m    fsasl.Mechanism
}

func newScram(m Mechanism, user, pass string) scramMechanism {
	auth := scram.Auth{User: user, Pass: pass}
	if m == ScramSHA512 {
		return scramMechanism{user: user, m: auth.AsSha512Mechanism()}
	}
	return scramMechanism{user: user, m: auth.AsSha256Mechanism()}
}

// Name implements sasl.Mechanism: SCRAM-SHA-256 or SCRAM-SHA-512.
func (s scramMechanism) Name() string { return s.m.Name() }

// Start implements sasl.Mechanism: it returns the client-first message.
func (s scramMechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	host := ""
	if md := sasl.MetadataFromContext(ctx); md != nil {
		host = md.Host
	}
	sess, first, err := s.m.Authenticate(ctx, host)
	if err != nil {
		return nil, nil, err
	}
	return scramSession{sess}, first, nil
}

// scramSession is one SCRAM exchange as a kafka-go sasl.StateMachine.
type scramSession struct{ s fsasl.Session }

// Next implements sasl.StateMachine: it answers the server-first message
// with the client-final one, then checks the server's signature.
func (s scramSession) Next(_ context.Context, challenge []byte) (bool, []byte, error) {
	return s.s.Challenge(challenge)
}
