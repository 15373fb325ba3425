package remote

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/flintml/flint/cluster"
)

// A worker's history keeps its last MaxWorkerEvents events, newest first,
// each cut at maxEventText bytes on a character boundary.
func TestEventRing(t *testing.T) {
	long := strings.Repeat("é", maxEventText) // 2 bytes a character
	for _, tc := range []struct {
		name  string
		added int
		text  string
	}{
		{"none", 0, "x"},
		{"a few", 3, "x"},
		{"full", MaxWorkerEvents, "x"},
		{"wrapped", 2*MaxWorkerEvents + 7, "x"},
		{"long text", 2, long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r eventRing
			for i := range tc.added {
				r.add(WorkerEvent{Kind: fmt.Sprint(i), Text: tc.text})
			}
			got := r.list()
			if want := min(tc.added, MaxWorkerEvents); len(got) != want {
				t.Fatalf("%d events listed after %d, want %d", len(got), tc.added, want)
			}
			for k, e := range got {
				if want := fmt.Sprint(tc.added - 1 - k); e.Kind != want {
					t.Fatalf("event %d is %s, want %s (newest first)", k, e.Kind, want)
				}
				if len(e.Text) > maxEventText+len("…") || !utf8.ValidString(e.Text) {
					t.Fatalf("event text of %d bytes (valid UTF-8: %v), want at most %d", len(e.Text), utf8.ValidString(e.Text), maxEventText+len("…"))
				}
			}
		})
	}
}

// The driver counts each worker's calls and keeps its history: a task
// that fails on a worker is recorded there with its error; a killed
// worker is recorded as lost, and its partitions as recovered on the
// survivor that read them again.
func TestWorkerActivity(t *testing.T) {
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	cmds := startWorkers(t, d, 2, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, fileSources(t, 400, 4), "")
	if err != nil {
		t.Fatal(err)
	}
	owner := d.Placement(ds)
	if _, err := cluster.Aggregate(ctx, d, ds, sumTask, &sumArgs{FailPart: 1}); err == nil {
		t.Fatal("the task failing on partition 1 succeeded")
	}
	if _, err := cluster.Aggregate(ctx, d, ds, sumTask, &sumArgs{FailPart: -1}); err != nil {
		t.Fatal(err)
	}
	ms := d.Members()
	for _, w := range ms {
		failed := 0
		if w.ID == owner[1] {
			failed = 1
		}
		// Each worker loaded two partitions (a call each) and ran the
		// task twice (one call for both its partitions); the owner of
		// partition 1 failed once.
		if w.TasksRunning != 0 || w.TasksFailed != failed || w.TasksCompleted < 3-failed {
			t.Errorf("%s: tasks %d running, %d completed, %d failed; want 0, at least %d, %d", w.ID, w.TasksRunning, w.TasksCompleted, w.TasksFailed, 3-failed, failed)
		}
		if e := w.Events; w.ID == owner[1] && (len(e) == 0 || e[0].Kind != EventTaskFailed || !strings.Contains(e[0].Text, "refusing partition 1")) {
			t.Errorf("%s's history %+v, want the failed task first", w.ID, e)
		}
		if e := w.Events; len(e) == 0 || e[len(e)-1].Kind != EventJoined {
			t.Errorf("%s's history %+v, want it to begin with its joining", w.ID, e)
		}
	}

	cmds[0].Process.Kill()
	cmds[0].Wait()
	if _, err := cluster.Aggregate(ctx, d, ds, sumTask, &sumArgs{FailPart: -1}); err != nil {
		t.Fatal(err)
	}
	ms = d.Members()
	var lostParts []int
	for i, id := range owner {
		if id == "w1" {
			lostParts = append(lostParts, i)
		}
	}
	want := fmt.Sprintf("read %d partitions %v of dataset %q again, lost with w1", len(lostParts), lostParts, ds.Name())
	if e := ms[1].Events; ms[1].ID != "w2" || len(e) == 0 || e[0].Kind != EventRecovered || e[0].Text != want {
		t.Fatalf("w2's history %+v, want first %q", e, want)
	}
	var lost WorkerEvent
	for _, e := range ms[0].Events {
		if e.Kind == EventLost {
			lost = e
		}
	}
	if ms[0].ID != "w1" || ms[0].Alive || !strings.HasPrefix(lost.Text, lossConnection+": ") {
		t.Fatalf("w1 after it was killed: %+v", ms[0])
	}
}
