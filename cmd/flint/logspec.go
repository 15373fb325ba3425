package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/log/kafka"
)

// logSpec is a parsed --log value.
type logSpec struct {
	backend string   // "dir" or "kafka"
	dir     string   // for dir
	brokers []string // for kafka
}

// parseLogSpec parses "dir:PATH" or "kafka:HOST:PORT[,HOST:PORT...]".
func parseLogSpec(s string) (logSpec, error) {
	backend, rest, ok := strings.Cut(s, ":")
	bad := func(why string) (logSpec, error) {
		return logSpec{}, fmt.Errorf("--log %q: %s (want dir:PATH or kafka:HOST:PORT[,HOST:PORT...])", s, why)
	}
	if !ok {
		return bad("no backend prefix")
	}
	switch backend {
	case "dir":
		if rest == "" {
			return bad("empty directory")
		}
		return logSpec{backend: "dir", dir: rest}, nil
	case "kafka":
		if rest == "" {
			return bad("no brokers")
		}
		var brokers []string
		for _, b := range strings.Split(rest, ",") {
			host, port, err := net.SplitHostPort(b)
			if err != nil || host == "" || port == "" {
				return bad(fmt.Sprintf("broker %q is not HOST:PORT", b))
			}
			brokers = append(brokers, b)
		}
		return logSpec{backend: "kafka", brokers: brokers}, nil
	}
	return bad(fmt.Sprintf("unknown backend %q", backend))
}

// openLog opens the log a spec names. This is the one table from backend
// names to constructors.
func openLog(ctx context.Context, spec string) (log.Log, error) {
	s, err := parseLogSpec(spec)
	if err != nil {
		return nil, err
	}
	switch s.backend {
	case "kafka":
		return kafka.New(ctx, kafka.Config{Brokers: s.brokers})
	default:
		return disk.Open(disk.Config{Dir: s.dir})
	}
}

// openLogReadOnly opens the log a spec names for reading: the embedded log
// without its lock, beside the process that writes it. A missing log
// directory is created empty, so that a driver can start before the first
// flint ingest; it sees the topics written later.
func openLogReadOnly(ctx context.Context, spec string) (log.Log, error) {
	s, err := parseLogSpec(spec)
	if err != nil {
		return nil, err
	}
	if s.backend == "kafka" {
		return kafka.New(ctx, kafka.Config{Brokers: s.brokers})
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("--log %q: %w", spec, err)
	}
	return disk.Open(disk.Config{Dir: s.dir, ReadOnly: true})
}
