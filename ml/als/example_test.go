package als_test

import (
	"context"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/als"
)

func ExampleModel_Recommend() {
	ratings := []als.Rating{
		{User: 1, Item: 100, Value: 5}, {User: 1, Item: 101, Value: 4},
		{User: 2, Item: 100, Value: 5}, {User: 2, Item: 101, Value: 4}, {User: 2, Item: 102, Value: 5},
		{User: 3, Item: 103, Value: 4}, {User: 3, Item: 104, Value: 5},
	}
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	m, err := als.Fit(context.Background(), e, ratings, als.Config{Rank: 2, MaxIter: 10, Lambda: 0.01, KeepRated: true, Seed: 1})
	if err != nil {
		panic(err)
	}
	recs, err := m.Recommend(nil, 1, 1, als.RecommendOptions{ExcludeRated: true})
	if err != nil {
		panic(err)
	}
	fmt.Println("recommend to user 1:", recs[0].ID)
	// Output: recommend to user 1: 102
}

// String ids: map the names to dense integers with SortKeys and KeyID,
// fit, and store the names with the model.
func ExampleModel_SetKeys() {
	type named struct {
		user, item string
		rating     float64
	}
	data := []named{{"ann", "sku-b", 5}, {"ann", "sku-a", 2}, {"bob", "sku-b", 4}, {"bob", "sku-c", 5}, {"cy", "sku-a", 1}, {"cy", "sku-c", 4}}
	var us, is []string
	for _, d := range data {
		us, is = append(us, d.user), append(is, d.item)
	}
	users, items := als.SortKeys(us), als.SortKeys(is)
	ratings := make([]als.Rating, len(data))
	for i, d := range data {
		u, _ := als.KeyID(users, d.user)
		it, _ := als.KeyID(items, d.item)
		ratings[i] = als.Rating{User: u, Item: it, Value: d.rating}
	}
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	m, err := als.Fit(context.Background(), e, ratings, als.Config{Rank: 2, MaxIter: 10, Seed: 1, Biases: true})
	if err != nil {
		panic(err)
	}
	if err := m.SetKeys(users, items); err != nil {
		panic(err)
	}
	bob, _ := m.UserByKey("bob")
	top, err := m.Recommend(nil, bob, 1, als.RecommendOptions{})
	if err != nil {
		panic(err)
	}
	name, _ := m.ItemKey(top[0].ID)
	fmt.Println("top item for bob:", name)
	// Output: top item for bob: sku-c
}
