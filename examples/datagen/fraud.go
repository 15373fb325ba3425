package main

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// fraudEvent is one card transaction of the fraud example.
type fraudEvent struct {
	card     int
	at       time.Time
	amount   float64
	merchant int
	fraud    bool
}

// writeFraud writes a week of card transactions ending at end, in time
// order, as JSON lines (or, with batches, as {"records": [...]} request
// bodies of 1 000 records for the HTTP ingest endpoint): 2 000 cards that
// pay every few hours, mostly at a few merchants of their own, and 100 of
// them stolen at some moment and then drained in a burst — many payments
// within half an hour, larger, at merchants the card never used. The burst's
// payments are labelled fraud: 1. A payment's own amount says little; the
// card's recent activity (how many payments in the last hour, how much, how
// many merchants today, how long since the last one) says a lot.
func writeFraud(w *bufio.Writer, batches bool, end time.Time) error {
	r := rand.New(rand.NewPCG(5, 5))
	const cards, merchants, stolen = 2000, 200, 100
	end = end.Truncate(time.Minute)
	start := end.Add(-7 * 24 * time.Hour)
	var evs []fraudEvent
	for c := 0; c < cards; c++ {
		own := []int{r.IntN(merchants), r.IntN(merchants), r.IntN(merchants), r.IntN(merchants)}
		for t := start.Add(time.Duration(r.ExpFloat64() * float64(6*time.Hour))); t.Before(end); t = t.Add(time.Duration(r.ExpFloat64() * float64(6*time.Hour))) {
			evs = append(evs, fraudEvent{card: c, at: t, amount: math.Round(math.Exp(3.5+0.6*r.NormFloat64())*100) / 100, merchant: own[r.IntN(len(own))]})
		}
	}
	for i, c := range r.Perm(cards)[:stolen] {
		t := start.Add(time.Duration(r.Float64() * float64(end.Sub(start)-time.Hour)))
		if i == 0 {
			t = end.Add(-25 * time.Minute) // one is being drained now
		}
		for k, n := 0, 5+r.IntN(11); k < n; k++ {
			t = t.Add(time.Duration(30+r.IntN(240)) * time.Second)
			evs = append(evs, fraudEvent{card: c, at: t, amount: math.Round((80+r.Float64()*900)*100) / 100, merchant: r.IntN(merchants), fraud: true})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	for i, e := range evs {
		if batches {
			switch {
			case i%1000 == 0:
				w.WriteString(`{"records": [`)
			default:
				w.WriteByte(',')
			}
		}
		fraud := 0
		if e.fraud {
			fraud = 1
		}
		fmt.Fprintf(w, `{"card":"card-%04d","at":%q,"amount":%.2f,"merchant":"m%03d","fraud":%d}`,
			e.card, e.at.UTC().Format("2006-01-02T15:04:05.000Z"), e.amount, e.merchant, fraud)
		if !batches || i%1000 == 999 || i == len(evs)-1 {
			if batches {
				w.WriteString("]}")
			}
			w.WriteByte('\n')
		}
	}
	return nil
}
