package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/flintml/flint/internal/logspec"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

// openLog opens the log a --log value names, for reading and writing.
func openLog(ctx context.Context, spec string) (log.Log, error) {
	return logspec.Open(ctx, spec, logspec.Options{})
}

// openLogReadOnly opens the log a spec names for reading: the embedded log
// without its lock, beside the process that writes it. A missing log
// directory is created empty, so that a driver can start before the first
// flint ingest; it sees the topics written later.
func openLogReadOnly(ctx context.Context, spec string) (log.Log, error) {
	s, err := logspec.Parse(spec)
	if err != nil {
		return nil, err
	}
	if s.Backend == logspec.Dir {
		if err := os.MkdirAll(s.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("--log %q: %w", spec, err)
		}
	}
	return s.Open(ctx, logspec.Options{ReadOnly: true})
}

// openLogForReading opens the log a --log value names for a command that
// only reads it: the embedded log read-only, so that it works beside the
// process writing it (flint ingest, flint log produce, a driver), which
// holds the log's lock. A dir: that is missing or empty is an error rather
// than an empty log: the spec is probably wrong.
func openLogForReading(ctx context.Context, spec string) (log.Log, error) {
	s, err := existingLog(spec)
	if err != nil {
		return nil, err
	}
	return s.Open(ctx, logspec.Options{ReadOnly: true})
}

// existingLog parses spec, and for a dir: checks that the directory holds
// something: a reading command on a wrong path would otherwise see an
// empty log (or create one).
func existingLog(spec string) (logspec.Spec, error) {
	s, err := logspec.Parse(spec)
	if err != nil || s.Backend != logspec.Dir {
		return s, err
	}
	entries, err := os.ReadDir(s.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, fmt.Errorf("--log %q: the log directory %s does not exist (nothing was written there; check --log or $FLINT_LOG)", spec, s.Dir)
	case err != nil:
		return s, fmt.Errorf("--log %q: %w", spec, err)
	case len(entries) == 0:
		return s, fmt.Errorf("--log %q: the log directory %s is empty (nothing was written there; check --log or $FLINT_LOG)", spec, s.Dir)
	}
	return s, nil
}

// groupNeedsWriter turns the error of opening the embedded log for a
// consumer group while another process writes it into one sentence that
// says how to share a log.
func groupNeedsWriter(err error, group string) error {
	if !errors.Is(err, disk.ErrLocked) {
		return err
	}
	return fmt.Errorf("consumer group %q cannot run beside another process writing the embedded log, since groups are coordinated inside the writing process (%w), so stop that process first or share the log between processes through Kafka (--log kafka:HOST:PORT)", group, err)
}
