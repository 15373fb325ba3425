package trainer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/features/stream"
)

// FeaturesSpec joins the job's records with streaming features: each record
// gets the definition's aggregates as of its own time, never later (a
// point-in-time join computed by replaying the definition's source topic on
// the engine, partition by partition). The model stores the definition, so
// a server fills the same aggregates in from the entity key alone.
type FeaturesSpec struct {
	Definition string `yaml:"definition" doc:"The feature definition file (flint features run's): its features become numeric fields of every record, named as the features; list them in the schema (optional: true for those an empty window leaves NaN: mean, min, max, variance, last, first, time_since_last)." required:"true"`
	Key        string `yaml:"key" doc:"The records' field holding the entity key (default: the definition's key field). The source topic must be keyed by it and have as many partitions as the definition's topic, as flint ingest --key makes it."`
	Time       string `yaml:"time" doc:"The records' timestamp field the features are taken as of (default: each record's log timestamp). When the records are the definition's own events (the source is its topic), each is answered as of its time before it is applied."`
}

// enrichment reads the definition and returns how the records are joined.
func (f *FeaturesSpec) enrichment() (stream.Enrichment, *stream.Definition, error) {
	data, err := os.ReadFile(f.Definition)
	if err != nil {
		return stream.Enrichment{}, nil, fmt.Errorf("trainer: features.definition: %w", err)
	}
	def, err := stream.Parse(f.Definition, data)
	if err != nil {
		return stream.Enrichment{}, nil, err
	}
	e := stream.Enrichment{Definition: string(data), File: f.Definition, Key: f.Key, Time: f.Time}
	if e.Key == "" {
		e.Key = def.Source.Key
	}
	return e, def, nil
}

// checkFeatures checks the schema holds every feature of the definition
// as a numeric field, and that the key (and time) fields are in it.
func checkFeatures(schema features.Schema, def *stream.Definition, e stream.Enrichment) error {
	var missing []string
	for _, name := range def.FeatureNames() {
		i := schema.Index(name)
		if i < 0 {
			missing = append(missing, fmt.Sprintf("{name: %s, type: numeric}", name))
		} else if schema.Fields[i].Type != features.Numeric {
			return fmt.Errorf("trainer: schema field %q is a feature of definition %q: it must be numeric, not %s", name, def.Name, schema.Fields[i].Type)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("trainer: the schema lacks features of definition %q (%s): add %s", def.Name, e.File, strings.Join(missing, ", "))
	}
	for _, f := range []string{e.Key, e.Time} {
		if f != "" && schema.Index(f) < 0 && schema.IgnoreUnknown {
			continue
		}
		if f != "" && schema.Index(f) < 0 {
			return fmt.Errorf("trainer: features: the schema has no field %q (the records' key or time field)", f)
		}
	}
	return nil
}

// joinSources turns the planned log sources of the job's records into
// point-in-time joins with the definition's events (stream.PlanJoin).
func (j *job) joinSources(ctx context.Context, sources []cluster.Source, e stream.Enrichment, def *stream.Definition) ([]cluster.Source, error) {
	out, err := stream.PlanJoin(ctx, j.opt.Log, sources, e, def)
	if err != nil {
		return nil, fmt.Errorf("trainer: features: %w", err)
	}
	return out, nil
}

// artifactSection is the model's Enrichment, for the server.
func artifactSection(e stream.Enrichment) ([]byte, error) { return json.Marshal(e) }
