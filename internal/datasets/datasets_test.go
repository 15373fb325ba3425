package datasets

import "testing"

func TestFashionMNIST(t *testing.T) {
	for _, c := range []struct {
		split string
		rows  int
	}{{"train", 60000}, {"test", 10000}} {
		s, err := FashionMNIST(c.split)
		if err != nil {
			t.Fatal(err)
		}
		if s.Rows != c.rows || s.Cols != 784 || len(s.X) != c.rows*784 || len(s.Y) != c.rows {
			t.Fatalf("%s: %d×%d with %d values and %d labels", c.split, s.Rows, s.Cols, len(s.X), len(s.Y))
		}
		counts := make([]int, 10)
		for _, y := range s.Y {
			counts[int(y)]++
		}
		for k, n := range counts {
			if n != c.rows/10 { // Fashion-MNIST is balanced
				t.Fatalf("%s: class %d has %d examples, want %d", c.split, k, n, c.rows/10)
			}
		}
	}
}

func TestSklearn(t *testing.T) {
	for _, c := range []struct {
		name             string
		rows, cols, clas int
	}{{"iris", 150, 4, 3}, {"wine", 178, 13, 3}, {"breast_cancer", 569, 30, 2}, {"digits", 1797, 64, 10}} {
		s, err := Sklearn(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Rows != c.rows || s.Cols != c.cols || s.Classes != c.clas || len(s.X) != c.rows*c.cols {
			t.Fatalf("%s: %d×%d, %d classes", c.name, s.Rows, s.Cols, s.Classes)
		}
	}
	d, err := Diabetes()
	if err != nil {
		t.Fatal(err)
	}
	if d.Rows != 442 || d.Cols != 10 {
		t.Fatalf("diabetes: %d×%d", d.Rows, d.Cols)
	}
}
