package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadersBesideAWriter runs the reading commands while flint log
// produce holds the embedded log open for writing: they open it read-only
// and see what the writer acknowledged, consume --follow sees records as
// they are appended, and a group consume refuses in one sentence that says
// how to share the log.
func TestReadersBesideAWriter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	logFlag := "--log=dir:" + dir
	mustProc(t, "", logFlag, "log", "create", "t", "--partitions", "2")
	w := startPiped(t, logFlag, "log", "produce", "t", "--acks")
	for i := range 10 {
		fmt.Fprintf(w.in, "k%d\tv%d\n", i, i)
	}
	waitFor(t, "10 acknowledgements", func() bool { return len(ackLine.FindAllString(w.out.String(), -1)) == 10 })

	topics := mustProc(t, "", logFlag, "log", "topics")
	mustContain(t, "topics", topics, "t      2           10")
	desc := mustProc(t, "", logFlag, "log", "describe", "t")
	mustContain(t, "describe", desc, "2 partitions")
	if !strings.Contains(desc, "BYTES") || strings.Contains(desc, "unknown") {
		t.Errorf("describe of the embedded log shows no size of some partition:\n%s", desc)
	}
	if got := mustProc(t, "", logFlag, "log", "consume", "t", "--format", "kv"); strings.Count(got, "\n") != 10 {
		t.Fatalf("consume beside the writer printed %q, want its 10 records", got)
	}
	mustProc(t, "", logFlag, "log", "groups")

	// --follow sees what the writer appends after it started.
	f := startPiped(t, logFlag, "log", "consume", "t", "--follow", "--from", "latest", "--format", "kv", "--max", "3")
	deadline := time.Now().Add(time.Minute)
	for n := 10; strings.Count(f.out.String(), "\n") < 3; n++ {
		// Records appended before the follower opened the log are before
		// its start: keep appending until it has printed 3.
		if time.Now().After(deadline) {
			t.Fatalf("consume --follow printed %q and stderr %q; want the records appended after it started", f.out.String(), f.err.String())
		}
		fmt.Fprintf(w.in, "late%d\tv\n", n)
		time.Sleep(50 * time.Millisecond)
	}
	if code := f.exit(t, time.Minute); code != 0 {
		t.Fatalf("consume --follow --max 3 exited %d: %s", code, f.err.String())
	}
	if out := f.out.String(); strings.Count(out, "\n") != 3 || strings.Count(out, "late") != 3 {
		t.Fatalf("consume --follow --max 3 printed %q, want 3 of the records appended after it started", out)
	}

	_, errOut, code := flintProc(t, "", logFlag, "log", "consume", "t", "--group", "g")
	if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("group consume beside a writer: exit %d, stderr %q; want one line and a non-zero exit", code, errOut)
	}
	mustContain(t, "the group error", errOut, `consumer group "g"`, "Kafka", "stop that process")

	w.in.Close()
	if code := w.exit(t, time.Minute); code != 0 {
		t.Fatalf("the writer exited %d: %s", code, w.err.String())
	}
}

// TestReadersRefuseAMissingLog checks that a reading command given a --log
// that holds no log says so rather than create it and print nothing.
func TestReadersRefuseAMissingLog(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	empty := t.TempDir()
	for _, c := range []struct {
		dir, want string
	}{{missing, "does not exist"}, {empty, "is empty"}} {
		for _, args := range [][]string{{"log", "topics"}, {"log", "describe", "t"}, {"log", "consume", "t"}, {"log", "consume", "t", "--group", "g"}, {"log", "groups"}} {
			_, errOut, code := flintProc(t, "", append([]string{"--log=dir:" + c.dir}, args...)...)
			if code == 0 || !strings.Contains(errOut, c.dir) || !strings.Contains(errOut, c.want) {
				t.Errorf("flint %s on %s: exit %d, stderr %q; want it to say the directory %s", strings.Join(args, " "), c.dir, code, errOut, c.want)
			}
		}
	}
	if matches, _ := filepath.Glob(missing); len(matches) != 0 {
		t.Fatalf("a reading command created %s", missing)
	}
}
