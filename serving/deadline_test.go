package serving

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

type ctxKey struct{}

// TestDeadlineCtx checks that withDeadline behaves as context.WithDeadline
// whether or not Done is ever called: Err reports the deadline and the
// parent's cancellation, Done closes at the deadline, Value reaches the
// parent, and an earlier deadline of the parent wins.
func TestDeadlineCtx(t *testing.T) {
	cases := []struct {
		name string
		done bool // call Done before the deadline
	}{
		{"Err only", false},
		{"Done", true},
	}
	for _, c := range cases {
		t.Run(c.name+"/deadline", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				parent := context.WithValue(context.Background(), ctxKey{}, "v")
				ctx := withDeadline(parent, time.Now().Add(time.Second))
				defer ctx.release()
				var done <-chan struct{}
				if c.done {
					done = ctx.Done()
				}
				if err := ctx.Err(); err != nil {
					t.Fatalf("Err before the deadline = %v", err)
				}
				if got := ctx.Value(ctxKey{}); got != "v" {
					t.Fatalf("Value = %v, want the parent's", got)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				if done != nil {
					select {
					case <-done:
					default:
						t.Fatal("Done not closed at the deadline")
					}
				}
				if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Err after the deadline = %v", err)
				}
				select {
				case <-ctx.Done(): // Done called late is closed at once
				default:
					t.Fatal("Done called after the deadline is not closed")
				}
			})
		})
		t.Run(c.name+"/parent canceled", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				parent, cancel := context.WithCancel(context.Background())
				ctx := withDeadline(parent, time.Now().Add(time.Hour))
				defer ctx.release()
				if c.done {
					ctx.Done()
				}
				cancel()
				synctest.Wait()
				if err := ctx.Err(); !errors.Is(err, context.Canceled) {
					t.Fatalf("Err after the parent was canceled = %v", err)
				}
			})
		})
	}
	t.Run("parent's earlier deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			parent, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			ctx := withDeadline(parent, time.Now().Add(time.Hour))
			defer ctx.release()
			if d, _ := ctx.Deadline(); !d.Equal(time.Now().Add(time.Second)) {
				t.Fatalf("Deadline = %v, want the parent's", d)
			}
			time.Sleep(time.Second)
			if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Err = %v", err)
			}
		})
	})
}
