package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/models"
)

func newModelsPromoteCmd(s streams) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "promote MODEL VERSION ALIAS",
		Short:   "Point an alias (e.g. production) at a version",
		Long:    "Point an alias at a version. The move is recorded in the model's history (flint models history) with\nthe user and host that made it and --reason.",
		Example: "  flint models promote fashion 3 production --reason \"beats v2 on last week's data\"",
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := strconv.Atoi(args[1])
			if err != nil || v < 1 {
				return fmt.Errorf("version %q: want a number ≥ 1", args[1])
			}
			return withRegistry(cmd, func(ctx context.Context, r *models.Registry) error {
				c := models.AliasChange{Actor: "flint models promote by " + whoami(), Reason: reason}
				if err := r.SetAliasBy(ctx, args[0], args[2], v, c); err != nil {
					return err
				}
				fmt.Fprintf(s.out, "%s: alias %s → version %d\n", args[0], args[2], v)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the model's history")
	return cmd
}

// whoami is user@host, as far as the system says.
func whoami() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

func newModelsHistoryCmd(s streams) *cobra.Command {
	var alias string
	cmd := &cobra.Command{
		Use:   "history MODEL",
		Short: "Show every alias decision of a model: moves, removals, moves held back, who and why",
		Long: `Show every alias decision of a model: moves, removals and moves held back, who made
them and why. A training job's champion/challenger promotion (its promote section)
shows, as COMPARED, the metric of the new version and of the version behind the
alias on the same held-out records, the margin and the number of rows, whether
the alias moved or not.`,
		Example: `  flint models history fraud
  flint models history fraud --alias production`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRegistry(cmd, func(ctx context.Context, r *models.Registry) error {
				m, err := r.Describe(ctx, args[0])
				if err != nil {
					return err
				}
				if len(m.History) == 0 {
					fmt.Fprintf(s.out, "model %s: no alias decision recorded (versions published before Flint kept a history have none)\n", m.Name)
					return nil
				}
				w := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TIME\tALIAS\tCHANGE\tCOMPARED\tBY\tWHY")
				for _, e := range m.History {
					if alias != "" && e.Alias != alias {
						continue
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Alias, change(e), compared(e),
						orDefault(e.Actor, "-"), orDefault(e.Reason, "-"))
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&alias, "alias", "", "only this alias's decisions")
	return cmd
}

// change describes an alias event: "2 → 3", "→ 1", "removed (was 3)",
// "held at 2 (not 3)".
func change(e models.AliasEvent) string {
	from := "none"
	if e.From > 0 {
		from = strconv.Itoa(e.From)
	}
	switch {
	case !e.Moved:
		return fmt.Sprintf("held at %s (not %d)", from, e.To)
	case e.To == 0:
		return "removed (was " + from + ")"
	case e.From == 0:
		return fmt.Sprintf("→ %d", e.To)
	}
	return fmt.Sprintf("%d → %d", e.From, e.To)
}

// compared describes a promotion's comparison: "logloss v5 11.75 vs v4
// 0.0917119 (margin 0.01, 300 rows)", or "-".
func compared(e models.AliasEvent) string {
	c := e.Comparison
	switch {
	case c == nil:
		return "-"
	case c.Champion == 0:
		return fmt.Sprintf("%s v%d %.6g, no champion (%d rows)", c.Metric, e.To, c.ChallengerValue, c.Rows)
	}
	return fmt.Sprintf("%s v%d %.6g vs v%d %.6g (margin %v, %d rows)", c.Metric, e.To, c.ChallengerValue, c.Champion, c.ChampionValue, c.Margin, c.Rows)
}
