// Package logspec parses and opens the values that name a log: the --log
// flag of every flint command, $FLINT_LOG, and the log spec a driver sends
// its workers. It is the one table from those strings to the backends,
// log/disk and log/kafka, so the CLI and the worker processes accept the
// same values and open them the same way.
//
// # Grammar
//
//	dir:PATH
//	kafka:HOST:PORT[,HOST:PORT...][?OPTION=VALUE[&OPTION=VALUE...]]
//
// dir: is the embedded log (log/disk) in directory PATH, taken literally to
// the end of the value. kafka: is a Kafka cluster, given by its bootstrap
// brokers, with these options, each at most once and in any order:
//
//	tls=true|false    encrypt every connection with TLS, verifying the brokers'
//	                  certificates against the system's roots (default false)
//	ca=FILE           verify them against the PEM certificates in FILE instead;
//	                  implies tls=true
//	insecure=true     do not verify them at all (tests only); implies tls=true
//	                  (insecure=false, the default, is accepted too)
//	sasl=MECHANISM    authenticate with plain, scram-sha-256 or scram-sha-512
//	                  (case does not matter), as the user in the environment
//
// A port is a number from 1 to 65535. Option values are taken literally
// (no %-decoding), so FILE cannot contain '&'. Spec.String writes a spec
// back in its canonical spelling, which Parse reads to the same Spec.
//
// # Credentials
//
// A spec never holds a secret: it is logged, and a driver sends it to every
// worker. With sasl= the user name and password come from the environment
// of the process that opens the log, FLINT_KAFKA_USERNAME and
// FLINT_KAFKA_PASSWORD (EnvUsername, EnvPassword); Open fails, naming them,
// when either is unset or empty. So every worker process needs them too.
package logspec

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/log/kafka"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
)

// The environment variables that hold the SASL credentials of sasl=.
const (
	EnvUsername = "FLINT_KAFKA_USERNAME"
	EnvPassword = "FLINT_KAFKA_PASSWORD"
)

// Backend names the kind of log a spec opens: the prefix before the first
// colon.
type Backend string

// The backends.
const (
	Dir   Backend = "dir"   // the embedded log, log/disk
	Kafka Backend = "kafka" // a Kafka cluster, log/kafka
)

// Mechanism is a SASL mechanism of sasl=, in its canonical lower-case
// spelling.
type Mechanism string

// The SASL mechanisms sasl= accepts. None means no authentication.
const (
	None        Mechanism = ""
	Plain       Mechanism = "plain"
	ScramSHA256 Mechanism = "scram-sha-256"
	ScramSHA512 Mechanism = "scram-sha-512"
)

// Spec is a parsed log spec. Parse fills it in; String turns it back into
// the canonical spelling, which Parse reads back to an equal Spec.
type Spec struct {
	Backend Backend

	// Dir is the directory of a dir: log.
	Dir string

	// Brokers are the bootstrap addresses of a kafka: log, HOST:PORT, as
	// written. The fields below apply to kafka: only.
	Brokers []string
	// TLS encrypts the connections (tls=true, or implied by ca= or
	// insecure=true).
	TLS bool
	// CAFile is the PEM file of CA certificates the brokers' certificates
	// are verified against (ca=); "" means the system's roots.
	CAFile string
	// Insecure skips the verification of the brokers' certificates
	// (insecure=true).
	Insecure bool
	// SASL is the mechanism to authenticate with (sasl=); None for none.
	SASL Mechanism
}

// usage is what an error about the form of a value says it wants.
const usage = "want dir:PATH or kafka:HOST:PORT[,HOST:PORT...][?OPTION=VALUE&...]"

// Parse parses a log spec; see the package documentation for the grammar.
// Errors quote the value as the --log flag, e.g.
//
//	--log "kafka:a:1?sasl=md5": unknown sasl mechanism "md5" (want plain, scram-sha-256 or scram-sha-512)
func Parse(s string) (Spec, error) {
	bad := func(format string, args ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("--log %q: %s", s, fmt.Sprintf(format, args...))
	}
	backend, rest, ok := strings.Cut(s, ":")
	if !ok {
		return bad("no backend prefix (%s)", usage)
	}
	switch Backend(backend) {
	case Dir:
		if rest == "" {
			return bad("empty directory (%s)", usage)
		}
		return Spec{Backend: Dir, Dir: rest}, nil
	case Kafka:
	default:
		return bad("unknown backend %q (%s)", backend, usage)
	}

	brokers, opts, hasOpts := strings.Cut(rest, "?")
	if brokers == "" {
		return bad("no brokers (%s)", usage)
	}
	spec := Spec{Backend: Kafka}
	for _, b := range strings.Split(brokers, ",") {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" || port == "" {
			return bad("broker %q is not HOST:PORT (%s)", b, usage)
		}
		if !validPort(port) {
			return bad("broker %q: port %q is not a number from 1 to 65535", b, port)
		}
		spec.Brokers = append(spec.Brokers, b)
	}
	if !hasOpts {
		return spec, nil
	}
	if opts == "" {
		return bad(`nothing after "?" (want OPTION=VALUE[&OPTION=VALUE...]; options are tls, ca, insecure and sasl)`)
	}

	seen := map[string]bool{}
	var tlsSet, tlsOff bool // tls= was given; it said false
	for _, o := range strings.Split(opts, "&") {
		key, val, hasVal := strings.Cut(o, "=")
		switch {
		case o == "":
			return bad(`empty option between "&"s`)
		case key != "tls" && key != "ca" && key != "insecure" && key != "sasl":
			return bad("unknown option %q (want tls, ca, insecure or sasl)", key)
		case seen[key]:
			return bad("option %s given twice", key)
		case !hasVal || val == "":
			return bad("option %s has no value (want %s)", key, optionUsage[key])
		}
		seen[key] = true
		switch key {
		case "tls":
			on, ok := parseBool(val)
			if !ok {
				return bad("tls=%q (want tls=true or tls=false)", val)
			}
			tlsSet, tlsOff = true, !on
			spec.TLS = on
		case "ca":
			spec.CAFile = val
		case "insecure":
			on, ok := parseBool(val)
			if !ok {
				return bad("insecure=%q (want insecure=true or insecure=false)", val)
			}
			spec.Insecure = on
		case "sasl":
			switch m := Mechanism(strings.ToLower(val)); m {
			case Plain, ScramSHA256, ScramSHA512:
				spec.SASL = m
			default:
				return bad("unknown sasl mechanism %q (want plain, scram-sha-256 or scram-sha-512)", val)
			}
		}
	}
	if spec.CAFile != "" && spec.Insecure {
		return bad("ca= and insecure=true together: insecure=true verifies nothing, so the CA would go unused")
	}
	if spec.CAFile != "" || spec.Insecure {
		opt := "ca="
		if spec.Insecure {
			opt = "insecure=true"
		}
		if tlsSet && tlsOff {
			return bad("%s needs TLS, but tls=false", opt)
		}
		spec.TLS = true
	}
	return spec, nil
}

// optionUsage is how each option is written, for errors.
var optionUsage = map[string]string{
	"tls":      "tls=true or tls=false",
	"ca":       "ca=FILE, a PEM file of CA certificates",
	"insecure": "insecure=true or insecure=false",
	"sasl":     "sasl=plain, sasl=scram-sha-256 or sasl=scram-sha-512",
}

func parseBool(s string) (v, ok bool) {
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// validPort reports whether p is a decimal port number from 1 to 65535.
func validPort(p string) bool {
	if len(p) == 0 || len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n >= 1 && n <= 65535
}

// String returns the spec in its canonical spelling: options in the order
// tls, ca, insecure, sasl, each only when it differs from the default.
func (s Spec) String() string {
	switch s.Backend {
	case Dir:
		return "dir:" + s.Dir
	case Kafka:
	default:
		return string(s.Backend) + ":"
	}
	var b strings.Builder
	b.WriteString("kafka:")
	b.WriteString(strings.Join(s.Brokers, ","))
	var opts []string
	if s.TLS {
		opts = append(opts, "tls=true")
	}
	if s.CAFile != "" {
		opts = append(opts, "ca="+s.CAFile)
	}
	if s.Insecure {
		opts = append(opts, "insecure=true")
	}
	if s.SASL != None {
		opts = append(opts, "sasl="+string(s.SASL))
	}
	if len(opts) > 0 {
		b.WriteByte('?')
		b.WriteString(strings.Join(opts, "&"))
	}
	return b.String()
}

// Abs returns s with its file names, Dir and CAFile, made absolute against
// the working directory. A driver sends its workers the spec it gets from
// Abs, so that they open the same files whatever their working directory.
func (s Spec) Abs() (Spec, error) {
	for _, p := range []*string{&s.Dir, &s.CAFile} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return Spec{}, fmt.Errorf("--log %q: %w", s, err)
		}
		*p = abs
	}
	s.Brokers = slices.Clone(s.Brokers)
	return s, nil
}

// Options are how Open opens a log. The zero value opens it for reading
// and writing, logging to slog.Default(), with credentials from the
// process's environment.
type Options struct {
	// ReadOnly opens a dir: log with disk.Config.ReadOnly: beside the
	// process that writes it, without its lock, refusing every change with
	// disk.ErrReadOnly. The directory must exist. It does not change how a
	// kafka: log is opened.
	ReadOnly bool
	// Logger receives the backend's diagnostics. nil means slog.Default().
	Logger *slog.Logger
	// Getenv looks up EnvUsername and EnvPassword. nil means os.Getenv;
	// tests pass their own.
	Getenv func(key string) string
}

// Open parses spec and opens the log it names; see Spec.Open.
func Open(ctx context.Context, spec string, opt Options) (log.Log, error) {
	s, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	return s.Open(ctx, opt)
}

// Open opens the log s names: a dir: log with log/disk, a kafka: log with
// log/kafka, which connects and fails here, not on first use, if no broker
// answers, the TLS handshake fails or the credentials are refused. The
// caller closes the log.
func (s Spec) Open(ctx context.Context, opt Options) (log.Log, error) {
	logger := opt.Logger
	if logger == nil {
		logger = slog.Default()
	}
	switch s.Backend {
	case Dir:
		l, err := disk.Open(disk.Config{Dir: s.Dir, ReadOnly: opt.ReadOnly, Logger: logger})
		if err != nil {
			return nil, err // not a nil *disk.Log in a non-nil log.Log
		}
		return l, nil
	case Kafka:
	default:
		return nil, fmt.Errorf("--log %q: unknown backend %q (%s)", s, s.Backend, usage)
	}
	cfg, err := s.KafkaConfig(opt.Getenv)
	if err != nil {
		return nil, err
	}
	cfg.Logger = logger
	if s.Insecure {
		logger.Warn("kafka: TLS without verifying the brokers' certificates (insecure=true)", "log", s.String())
	}
	if s.SASL == Plain && !s.TLS {
		logger.Warn("kafka: sasl=plain without tls=true sends the password in the clear", "log", s.String())
	}
	var auth *tracked
	if cfg.SASL != nil {
		auth = &tracked{Mechanism: cfg.SASL}
		cfg.SASL = auth
	}
	l, err := kafka.New(ctx, cfg)
	if err != nil {
		if auth != nil && (errors.Is(err, kafkago.SASLAuthenticationFailed) || auth.cutOff()) {
			return nil, fmt.Errorf("--log %q: authentication failed for user %q (sasl=%s, credentials from %s and %s): %w",
				s, auth.user(), s.SASL, EnvUsername, EnvPassword, err)
		}
		return nil, err
	}
	return l, nil
}

// KafkaConfig returns the log/kafka configuration of a kafka: spec, with
// TLS and SASL filled in: the CA file read, and the credentials looked up
// with getenv (nil means os.Getenv). Open uses it; a caller that needs
// other kafka.Config fields set can too.
func (s Spec) KafkaConfig(getenv func(string) string) (kafka.Config, error) {
	if s.Backend != Kafka {
		return kafka.Config{}, fmt.Errorf("--log %q: not a kafka: log", s)
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := kafka.Config{Brokers: s.Brokers}
	if s.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.Insecure}
		if s.CAFile != "" {
			pem, err := os.ReadFile(s.CAFile)
			if err != nil {
				return kafka.Config{}, fmt.Errorf("--log %q: ca: %w", s, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return kafka.Config{}, fmt.Errorf("--log %q: ca: no PEM certificate in %s", s, s.CAFile)
			}
			tc.RootCAs = pool
		}
		cfg.TLS = tc
	}
	if s.SASL != None {
		user, pass := getenv(EnvUsername), getenv(EnvPassword)
		var missing []string
		if user == "" {
			missing = append(missing, EnvUsername)
		}
		if pass == "" {
			missing = append(missing, EnvPassword)
		}
		if len(missing) > 0 {
			verb := "is"
			if len(missing) > 1 {
				verb = "are"
			}
			return kafka.Config{}, fmt.Errorf("--log %q: sasl=%s needs the user name in %s and the password in %s; %s %s not set",
				s, s.SASL, EnvUsername, EnvPassword, strings.Join(missing, " and "), verb)
		}
		m, err := mechanism(s.SASL, user, pass)
		if err != nil {
			return kafka.Config{}, fmt.Errorf("--log %q: %w", s, err)
		}
		cfg.SASL = m
	}
	return cfg, nil
}

// mechanism returns kafka-go's SASL mechanism for m.
func mechanism(m Mechanism, user, pass string) (sasl.Mechanism, error) {
	switch m {
	case Plain:
		return plain.Mechanism{Username: user, Password: pass}, nil
	case ScramSHA256, ScramSHA512:
		return newScram(m, user, pass), nil
	}
	return nil, fmt.Errorf("unknown sasl mechanism %q (want plain, scram-sha-256 or scram-sha-512)", m)
}

// tracked is a SASL mechanism that counts the exchanges it began and those
// that completed. Kafka answers bad credentials with
// SASL_AUTHENTICATION_FAILED, but a broker may instead close the
// connection (kfake does, and Kafka does on some paths): then the client
// sees only EOF, and an exchange begun but never completed is what says
// that the credentials were refused.
type tracked struct {
	sasl.Mechanism
	started, completed atomic.Int64
}

// Start implements sasl.Mechanism.
func (t *tracked) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	sm, ir, err := t.Mechanism.Start(ctx)
	if err != nil {
		return nil, nil, err
	}
	t.started.Add(1)
	return trackedSession{sm, t}, ir, nil
}

// cutOff reports whether an exchange began and did not complete.
func (t *tracked) cutOff() bool { return t.started.Load() > t.completed.Load() }

// user is the user name the mechanism authenticates as.
func (t *tracked) user() string {
	switch m := t.Mechanism.(type) {
	case plain.Mechanism:
		return m.Username
	case scramMechanism:
		return m.user
	}
	return ""
}

type trackedSession struct {
	sasl.StateMachine
	t *tracked
}

// Next implements sasl.StateMachine.
func (s trackedSession) Next(ctx context.Context, challenge []byte) (bool, []byte, error) {
	done, resp, err := s.StateMachine.Next(ctx, challenge)
	if done && err == nil {
		s.t.completed.Add(1)
	}
	return done, resp, err
}
