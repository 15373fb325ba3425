package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/models"
)

func newModelsCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List, inspect, promote, delete and export models in the store",
		Long: `Work with the model registry in the store given by --store (dir:PATH, the
default, or s3://HOST:PORT/BUCKET[/PREFIX]).

Every model has versions numbered from 1 (never reused) and aliases such as
production or staging that point at a version; serving picks up alias moves
without a restart.`,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "ls",
			Short: "List models with their latest version and aliases",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return withRegistry(cmd, func(ctx context.Context, r *models.Registry) error {
					names, err := r.List(ctx)
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "MODEL\tVERSIONS\tLATEST\tALGORITHM\tALIASES")
					for _, n := range names {
						m, err := r.Describe(ctx, n)
						if err != nil {
							return err
						}
						latest, _ := m.Latest()
						fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", n, len(m.Versions), latest.Version, latest.Algorithm, aliasList(m.Aliases))
					}
					return w.Flush()
				})
			},
		},
		&cobra.Command{
			Use:   "show MODEL",
			Short: "Show a model's versions, metrics and aliases",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withRegistry(cmd, func(ctx context.Context, r *models.Registry) error {
					m, err := r.Describe(ctx, args[0])
					if err != nil {
						return err
					}
					fmt.Fprintf(s.out, "model %s, aliases: %s\n", m.Name, aliasList(m.Aliases))
					w := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "VERSION\tCREATED\tALGORITHM\tSIZE\tALIASES\tMETRICS")
					for _, v := range m.Versions {
						fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%s\n", v.Version, v.Created.UTC().Format(time.RFC3339), v.Algorithm, v.Size,
							strings.Join(m.AliasesOf(v.Version), ","), metricList(v.Metrics))
					}
					return w.Flush()
				})
			},
		},
		newModelsPromoteCmd(s),
		newModelsHistoryCmd(s),
		newModelsRmCmd(s),
		&cobra.Command{
			Use:   "export MODEL[:VERSION|@ALIAS] FILE",
			Short: "Write a model version's artefact to a file (default: the latest version)",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withRegistry(cmd, func(ctx context.Context, r *models.Registry) error {
					a, vi, err := getRef(ctx, r, args[0])
					if err != nil {
						return err
					}
					f, err := os.Create(args[1])
					if err != nil {
						return err
					}
					if err := a.Encode(f); err != nil {
						f.Close()
						return err
					}
					if err := f.Close(); err != nil {
						return err
					}
					fmt.Fprintf(s.out, "exported %s version %d to %s\n", strings.SplitN(args[0], ":", 2)[0], vi.Version, args[1])
					return nil
				})
			},
		},
	)
	return cmd
}

func newModelsRmCmd(s streams) *cobra.Command {
	var version int
	cmd := &cobra.Command{
		Use:   "rm MODEL",
		Short: "Delete a model, or one version of it with --version",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRegistry(cmd, func(ctx context.Context, r *models.Registry) error {
				if version > 0 {
					if err := r.DeleteVersion(ctx, args[0], version); err != nil {
						return err
					}
					fmt.Fprintf(s.out, "deleted %s version %d\n", args[0], version)
					return nil
				}
				if err := r.DeleteModel(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(s.out, "deleted model %s\n", args[0])
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "delete only this version")
	return cmd
}

// getRef resolves NAME, NAME:VERSION or NAME@ALIAS.
func getRef(ctx context.Context, r *models.Registry, ref string) (*models.Artifact, models.VersionInfo, error) {
	if name, alias, ok := strings.Cut(ref, "@"); ok {
		return r.GetAlias(ctx, name, alias)
	}
	if name, v, ok := strings.Cut(ref, ":"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, models.VersionInfo{}, fmt.Errorf("%q: the version must be a number ≥ 1", ref)
		}
		return r.Get(ctx, name, n)
	}
	return r.Latest(ctx, ref)
}

func withRegistry(cmd *cobra.Command, fn func(ctx context.Context, r *models.Registry) error) error {
	spec, _ := cmd.Flags().GetString("store")
	if err := storeExists(spec); err != nil {
		return err
	}
	r, err := openRegistry(cmd.Context(), spec)
	if err != nil {
		return err
	}
	return fn(cmd.Context(), r)
}

func aliasList(a map[string]int) string {
	if len(a) == 0 {
		return "-"
	}
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s→%d", n, a[n])
	}
	return strings.Join(parts, ",")
}

func metricList(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%.4g", n, m[n])
	}
	return strings.Join(parts, " ")
}
