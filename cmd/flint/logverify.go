package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/internal/logspec"
	"github.com/flintml/flint/log/disk"
)

// embeddedDir returns the directory of the embedded log that --log names,
// or an error saying that what (a command) only works on it.
func embeddedDir(cmd *cobra.Command, what string) (string, error) {
	spec, _ := cmd.Flags().GetString("log")
	s, err := logspec.Parse(spec)
	if err != nil {
		return "", err
	}
	if s.Backend != logspec.Dir {
		return "", fmt.Errorf("%s works on the embedded log (--log dir:PATH) only; Kafka brokers check their own logs", what)
	}
	return s.Dir, nil
}

func newLogVerifyCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check every batch of the embedded log and report damage per partition",
		Long: `Read every segment of every partition of the embedded log, check every
batch (its CRC, its records and that offsets are dense), and print one line
per partition: ok, a torn tail (what a crash leaves, cut off by the next
writable open; beside a running writer, possibly a batch being written), or
DAMAGED with the file and byte offset of the first damage and what
"flint log repair --yes" would drop. A damaged partition refuses every
operation until it is repaired; the other partitions work.

It checks everything, whatever the recovery points say; it takes no lock and
writes nothing, so it may run beside a writer. It exits non-zero when any
partition is damaged.`,
		Example: `  flint log verify
  flint --log dir:/var/lib/flint/log log verify`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := embeddedDir(cmd, "flint log verify")
			if err != nil {
				return err
			}
			checks, err := disk.Verify(cmd.Context(), dir)
			if err != nil {
				return err
			}
			if err := printChecks(s.out, checks); err != nil {
				return err
			}
			if n := countDamaged(checks); n > 0 {
				return fmt.Errorf("log %s: %d of %d partitions are damaged; \"flint log repair\" shows what truncating them drops, and --yes does it", dir, n, len(checks))
			}
			return nil
		},
	}
}

func newLogRepairCmd(s streams) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Truncate damaged partitions of the embedded log at their damage (with --yes)",
		Long: `Find the damaged partitions of the embedded log, as "flint log verify" does,
and say exactly what truncating each at its first damage drops: the file
and byte it is cut at, the later segment files removed, the bytes and the
offsets (records) lost. Without --yes it changes nothing and exits non-zero.

With --yes it truncates: the partitions open again, ending at the first
offset lost, and the next records appended take the dropped offsets again.
Group offsets committed past the new end are left as they are. It takes the
log's lock, so stop the process writing the log first.`,
		Example: `  flint log repair          # show what would be dropped
  flint log repair --yes    # drop it`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := embeddedDir(cmd, "flint log repair")
			if err != nil {
				return err
			}
			var checks []disk.PartitionCheck
			if yes {
				checks, err = disk.Repair(cmd.Context(), dir)
			} else {
				checks, err = disk.Verify(cmd.Context(), dir)
			}
			if err != nil {
				return err
			}
			n := countDamaged(checks)
			if n == 0 {
				fmt.Fprintf(s.out, "no damage in %s: nothing to repair\n", dir)
				return nil
			}
			verb := "would drop"
			if yes {
				verb = "dropped"
			}
			for _, c := range checks {
				if c.Loss != nil {
					fmt.Fprintf(s.out, "%s/%d: damage in %s at byte %d: %v\n  %s %s\n", c.Topic, c.Partition,
						c.Damage.Segment, c.Damage.Offset, c.Damage.Err, verb, describeLoss(c.Loss))
				}
			}
			if !yes {
				return fmt.Errorf("nothing changed in %s: rerun with --yes to truncate the %d damaged partitions as shown", dir, n)
			}
			fmt.Fprintf(s.out, "repaired %d partitions of %s\n", n, dir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "truncate the damaged partitions (without it, only show what would be dropped)")
	return cmd
}

func countDamaged(checks []disk.PartitionCheck) int {
	n := 0
	for _, c := range checks {
		if c.Damage != nil {
			n++
		}
	}
	return n
}

// printChecks writes one line per partition checked.
func printChecks(w io.Writer, checks []disk.PartitionCheck) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tSEGMENTS\tINTACT OFFSETS\tSTATUS")
	for _, c := range checks {
		status := "ok"
		switch {
		case c.Damage != nil:
			status = fmt.Sprintf("DAMAGED: %s at byte %d: %v; repair would drop %s",
				c.Damage.Segment, c.Damage.Offset, c.Damage.Err, describeLoss(c.Loss))
		case c.TornTail != nil:
			status = fmt.Sprintf("torn tail at byte %d of %s (%v), cut off at the next writable open",
				c.TornTail.Offset, c.TornTail.Segment, c.TornTail.Err)
		}
		offsets := "none"
		if c.Next > c.Earliest {
			offsets = fmt.Sprintf("%d-%d", c.Earliest, c.Next-1)
		}
		fmt.Fprintf(tw, "%s/%d\t%d\t%s\t%s\n", c.Topic, c.Partition, c.Segments, offsets, status)
	}
	return tw.Flush()
}

// describeLoss says what truncating at the damage drops, in one line.
func describeLoss(loss *disk.Loss) string {
	if loss == nil {
		return "nothing"
	}
	var b strings.Builder
	if n := loss.EndOffset - loss.FirstOffset; n > 0 {
		fmt.Fprintf(&b, "offsets %d to %d (%d records)", loss.FirstOffset, loss.EndOffset-1, n)
	} else {
		fmt.Fprintf(&b, "the records from offset %d on (no intact batch follows the damage, so how many is unknown)", loss.FirstOffset)
	}
	fmt.Fprintf(&b, " and %d bytes: ", loss.Bytes)
	var acts []string
	if loss.Truncate != "" {
		acts = append(acts, fmt.Sprintf("truncate %s at byte %d", loss.Truncate, loss.At))
	}
	if len(loss.Removed) > 0 {
		acts = append(acts, "remove "+strings.Join(loss.Removed, ", "))
	}
	b.WriteString(strings.Join(acts, ", "))
	fmt.Fprintf(&b, "; the partition then ends at offset %d", loss.FirstOffset)
	return b.String()
}

// damageHint adds to an error that a damaged partition of the embedded log
// gave the commands that deal with it.
func damageHint(err error) error {
	var ce *disk.CorruptionError
	if err == nil || !errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("%w (\"flint log verify\" reports every damaged partition; \"flint log repair --yes\" truncates them at the damage)", err)
}
