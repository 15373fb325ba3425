package main

import (
	"context"
	"fmt"
	"os"

	"github.com/flintml/flint/internal/logspec"
	"github.com/flintml/flint/log"
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
