package models_test

import (
	"context"
	"testing"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
)

// Alias decisions are kept in order, with who and why, across readers of
// the manifest; the oldest are dropped beyond MaxHistory.
func TestAliasHistory(t *testing.T) {
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := models.NewRegistry(st)
	for i := 1; i <= 2; i++ {
		if _, err := r.Publish(ctx, "m", art(i)); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.SetAliasBy(ctx, "m", "prod", 1, models.AliasChange{Actor: "job a", Reason: "auc held"}))
	must(r.HoldAlias(ctx, "m", "prod", 2, models.AliasChange{Actor: "job a", Reason: "auc failed"}))
	must(r.SetAlias(ctx, "m", "prod", 2))
	must(r.RemoveAlias(ctx, "m", "prod"))
	m, err := models.NewRegistry(st).Describe(ctx, "m") // another reader
	if err != nil {
		t.Fatal(err)
	}
	want := []models.AliasEvent{
		{Alias: "prod", From: 0, To: 1, Moved: true, Actor: "job a", Reason: "auc held"},
		{Alias: "prod", From: 1, To: 2, Actor: "job a", Reason: "auc failed"},
		{Alias: "prod", From: 1, To: 2, Moved: true},
		{Alias: "prod", From: 2, To: 0, Moved: true},
	}
	if len(m.History) != len(want) {
		t.Fatalf("history %+v", m.History)
	}
	for i, e := range m.History {
		e.Time = want[i].Time
		if e != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, e, want[i])
		}
	}
	for i := 0; i < models.MaxHistory; i++ {
		must(r.HoldAlias(ctx, "m", "prod", 2, models.AliasChange{Reason: "bulk"}))
	}
	if m, err = r.Describe(ctx, "m"); err != nil || len(m.History) != models.MaxHistory || m.History[0].Reason != "bulk" {
		t.Fatalf("after %d more: %d events (%v), oldest %+v", models.MaxHistory, len(m.History), err, m.History[0])
	}
}
