package serving

import (
	"context"

	"github.com/flintml/flint/models/regevents"
)

// follow applies one change of the registry event stream (Config.WatchURL):
// it re-reads the model's manifest from the registry, or, on a reset,
// every model's.
func (s *Server) follow(ctx context.Context, c regevents.Change) {
	if !c.Reset {
		if st := s.snap.Load().models[c.Model]; st != nil && st.manifest.Revision >= c.Revision {
			return // serving that revision already (the poll or an admin refresh got there first)
		}
		if err := s.refresh(ctx, c.Model); err != nil && ctx.Err() == nil {
			s.metrics.watchErrors.Inc()
			s.log.Warn("serving: apply a registry event (the poll will retry)", "model", c.Model, "err", err)
		}
		return
	}
	names, err := s.cfg.Registry.List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.metrics.watchErrors.Inc()
			s.log.Warn("serving: re-read the registry after an event stream reset (the poll will retry)", "err", err)
		}
		return
	}
	for _, name := range names {
		if err := s.refresh(ctx, name); err != nil && ctx.Err() == nil {
			s.metrics.watchErrors.Inc()
			s.log.Warn("serving: re-read a model after an event stream reset (the poll will retry)", "model", name, "err", err)
		}
	}
}
