package features

import (
	"encoding/json"
	"fmt"

	"github.com/flintml/flint/cluster"
)

// decoderName is the cluster row decoder a fitted pipeline registers as.
const decoderName = "features.pipeline"

// decoderArg is what travels to workers: the fitted pipeline and the policy
// for records that do not fit.
type decoderArg struct {
	Pipeline *Pipeline `json:"pipeline"`
	SkipBad  bool      `json:"skip_bad,omitempty"`
}

// Format returns the cluster format that decodes raw records through the
// fitted pipeline into feature vectors, with the label and weight the
// schema names. With skipBad, records that do not fit are skipped and
// counted (cluster.Dataset.Skipped) instead of failing the load.
func (p *Pipeline) Format(skipBad bool) (cluster.Format, error) {
	if !p.Fitted() {
		return cluster.Format{}, fmt.Errorf("features: the pipeline is not fitted")
	}
	arg, err := json.Marshal(decoderArg{Pipeline: p, SkipBad: skipBad})
	if err != nil {
		return cluster.Format{}, err
	}
	return cluster.Format{Kind: "custom", Decoder: decoderName, Arg: arg}, nil
}

func init() {
	cluster.RegisterDecoder(decoderName, func(arg []byte) (cluster.RowDecoder, error) {
		var a decoderArg
		if err := json.Unmarshal(arg, &a); err != nil {
			return nil, err
		}
		if a.Pipeline == nil {
			return nil, fmt.Errorf("no pipeline")
		}
		p := a.Pipeline
		return &rowDecoder{p: p, t: p.NewTransformer(), row: p.Schema.NewRow(), vec: make([]float64, p.Width()), skip: a.SkipBad}, nil
	})
}

// rowDecoder decodes raw records into feature rows for the engine.
type rowDecoder struct {
	p    *Pipeline
	t    *Transformer
	row  Row
	vec  []float64
	skip bool
}

func (d *rowDecoder) Layout() (bool, int) { return false, d.p.Width() }

func (d *rowDecoder) Decode(b *cluster.Builder, value []byte) error {
	err := d.decode(b, value)
	if err != nil && d.skip {
		b.Skip()
		return nil
	}
	return err
}

func (d *rowDecoder) decode(b *cluster.Builder, value []byte) error {
	if err := d.p.Schema.Decode(d.row, value); err != nil {
		return err
	}
	y, err := d.p.Label(d.row)
	if err != nil {
		return err
	}
	w, err := d.p.Weight(d.row)
	if err != nil {
		return err
	}
	if err := d.t.Transform(d.vec, d.row); err != nil {
		return err
	}
	return b.AddDense(d.vec, y, w)
}
