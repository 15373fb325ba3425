package trainer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flintml/flint/log"
)

// CheckSources checks that what the spec reads exists outside it — every
// source file, and the source topic in l — so that --dry-run and the start
// of a run say so at the spec's line, instead of failing once reading
// starts. where names the log in messages (e.g. "dir:flint-data/log"); l
// may be nil when the spec reads files. Every problem is reported at once,
// as SpecErrors.
func (s *Spec) CheckSources(ctx context.Context, l log.Log, where string) error {
	var errs SpecErrors
	at := func(path, format string, args ...any) {
		errs = append(errs, SpecError{File: s.file, Pos: s.posOf(path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	checkSourceExists(ctx, "source", s.Source, l, where, at)
	if t := s.Evaluation.Test; t != nil && (t.Topic != "" || len(t.Files) > 0) {
		checkSourceExists(ctx, "evaluation.test", *t, l, where, at)
	}
	if f := s.Features; f != nil {
		if _, def, err := f.enrichment(); err != nil {
			at("features.definition", "%v", err)
		} else if l != nil {
			checkSourceExists(ctx, "features.definition", Source{Topic: def.Source.Topic}, l, where, at)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// posOf returns the position of path in the spec's file, or of its nearest
// ancestor that has one.
func (s *Spec) posOf(path string) Pos {
	d := decoder{pos: s.pos}
	d.at(path, "")
	return d.errs[0].Pos
}

// checkSourceExists reports a source's files that are missing and its
// topic if the log lacks it.
func checkSourceExists(ctx context.Context, path string, src Source, l log.Log, where string, at func(path, format string, args ...any)) {
	for i, f := range src.Files {
		st, err := os.Stat(f)
		switch {
		case errors.Is(err, os.ErrNotExist):
			abs, _ := filepath.Abs(f)
			at(fmt.Sprintf("%s.files[%d]", path, i), "%s does not exist", abs)
		case err != nil:
			at(fmt.Sprintf("%s.files[%d]", path, i), "%v", err)
		case st.IsDir():
			at(fmt.Sprintf("%s.files[%d]", path, i), "%s is a directory; list the files in it", f)
		}
	}
	if t := src.Topic; t != "" && l != nil {
		if _, err := l.Describe(ctx, t); errors.Is(err, log.ErrUnknownTopic) {
			at(path+".topic", "topic %q does not exist in the log at %s (flint log topics lists the topics; flint ingest creates one)", t, where)
		} else if err != nil {
			at(path+".topic", "describe topic %q in the log at %s: %v", t, where, err)
		}
	}
}
