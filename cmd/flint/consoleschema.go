package main

import (
	"fmt"
	"strings"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
)

// loadConsoleSchemas reads the values of --console-schema (flint driver,
// flint up) or --schema (flint console): TOPIC=FILE, FILE holding a schema
// or a job spec as for flint ingest --schema. The record browser decodes
// TOPIC's records with it.
func loadConsoleSchemas(vals []string, flag string) (map[string]features.Schema, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := make(map[string]features.Schema, len(vals))
	for _, v := range vals {
		topic, file, ok := strings.Cut(v, "=")
		if !ok || topic == "" || file == "" {
			return nil, fmt.Errorf("%s %q: want TOPIC=FILE, e.g. clicks=examples/clicks.yaml", flag, v)
		}
		if err := log.ValidTopicName(topic); err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, v, err)
		}
		if _, dup := out[topic]; dup {
			return nil, fmt.Errorf("%s %q: topic %s is given twice", flag, v, topic)
		}
		s, err := loadSchema(file)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, v, err)
		}
		out[topic] = s
	}
	return out, nil
}
