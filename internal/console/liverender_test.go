package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/ml"
)

// The streams of one job page share a render while the job and its curves
// stay as they were, and for liveGap after it was made; then render again.
func TestLiveFragmentsShared(t *testing.T) {
	e := newEnv(t)
	j := e.submit(t, "shared")
	if _, err := e.m.Wait(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	curves := NewCurves()
	con, err := New(Config{Jobs: e.m, Curves: curves, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer con.Close()
	o := curves.Observe(j.ID)
	o.Iteration(0, ml.Progress{Iter: 0, Loss: 1, GradNorm: 1}, 10)
	_, changed, err := e.m.Watch(j.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, points := curves.Get(j.ID)
	_, first, _, err := con.liveFragments(j.ID, ScopeRead, changed, points)
	if err != nil {
		t.Fatal(err)
	}
	o.Iteration(0, ml.Progress{Iter: 1, Loss: 0.5, GradNorm: 0.5, Step: 1}, 10)
	// A stream that woke at the same state gets the same render.
	if _, again, _, _ := con.liveFragments(j.ID, ScopeRead, changed, points); again != first {
		t.Error("a stream at the same state rendered again")
	}
	// A stream at a newer state gets the last render while it is younger
	// than liveGap, told that it is not current; then a new one.
	_, points = curves.Get(j.ID)
	deadline := time.Now().Add(time.Minute)
	for {
		_, next, current, err := con.liveFragments(j.ID, ScopeRead, changed, points)
		if err != nil {
			t.Fatal(err)
		}
		if !current {
			if next != first {
				t.Fatal("a render that is not current is not the last one made")
			}
			if time.Now().After(deadline) {
				t.Fatal("no new render after a minute")
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if next == first || !strings.Contains(next, `id="step-chart"`) {
			t.Errorf("after a new point the charts were not rendered again:\n%s", next)
		}
		break
	}
	con.forgetLive(j.ID)
	if len(con.live.m) != 0 {
		t.Errorf("%d renders kept after the job ended", len(con.live.m))
	}
}
