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
