//go:build !amd64 || noasm

package tile

const hasAVX2FMA = false

func lanes1(x, c []float64, n4 int, acc *[4]float64) { lanesGeneric(x, c, n4, acc[:]) }

func lanes33(x0, x1, x2, c0, c1, c2 []float64, n4 int, acc *[36]float64) {
	lanes33Generic(x0, x1, x2, c0, c1, c2, n4, acc)
}

func lanes31(x0, x1, x2, c []float64, n4 int, acc *[12]float64) {
	lanes31Generic(x0, x1, x2, c, n4, acc)
}

func lanes33n(x0, x1, x2, c0, c1, c2 []float64, n4 int, acc *[48]float64) {
	lanes33nGeneric(x0, x1, x2, c0, c1, c2, n4, acc)
}
