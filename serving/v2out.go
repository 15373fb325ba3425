package serving

// The V2 protocol's outputs: the outputs a request asks for, the inference
// response, and model metadata.

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/internal/jsonscan"
)

// encodeV2 writes an "Inference Response JSON Object".
func (lm *loadedModel) encodeV2(w *worker, req v2Request) ([]byte, error) {
	b := append(w.out[:0], lm.v2Head...)
	if req.hasID {
		b = append(b, `,"id":`...)
		b = appendJSONString(b, req.id)
	}
	b = append(b, `,"outputs":[`...)
	outs := req.outputs
	if outs == nil {
		outs = lm.v2Outputs()
	}
	n := w.rows
	for i, o := range outs {
		if i > 0 {
			b = append(b, ',')
		}
		switch o {
		case outPredict:
			dt := "FP64"
			if lm.kind != regression {
				dt = "INT64"
			}
			b = append(b, `{"name":"predict","datatype":"`...)
			b = append(b, dt...)
			b = append(b, `","shape":[`...)
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, `],"data":[`...)
			for r := 0; r < n; r++ {
				if r > 0 {
					b = append(b, ',')
				}
				if lm.kind == regression {
					b = appendFloat(b, w.pred[r])
					continue
				}
				if lm.kind == classification {
					if _, err := lm.classIndex(w.pred[r]); err != nil {
						return nil, err
					}
				}
				b = strconv.AppendInt(b, int64(w.pred[r]), 10)
			}
			b = append(b, "]}"...)
		case outRow:
			b = append(b, `{"name":"row","datatype":"INT64","shape":[`...)
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, `],"data":[`...)
			for r, k := range w.kept[:n] {
				if r > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, int64(k), 10)
			}
			b = append(b, "]}"...)
		case outProba:
			nc := len(lm.classes)
			b = append(b, `{"name":"probabilities","datatype":"FP64","shape":[`...)
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(nc), 10)
			b = append(b, `],"data":[`...)
			for k, p := range w.proba[:n*nc] {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendFloat(b, p)
			}
			b = append(b, "]}"...)
		}
	}
	b = append(b, "]}"...)
	w.out = b
	return b, nil
}

// wantsProba says whether an inference request needs the probabilities.
func (req v2Request) wantsProba() bool {
	return req.outputs == nil || slices.Contains(req.outputs, outProba)
}

// v2Tensor is a "$metadata_tensor".
type v2Tensor struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

// v2ModelMetadata is a "Model Metadata Response JSON Object".
type v2ModelMetadata struct {
	Name     string     `json:"name"`
	Versions []string   `json:"versions"`
	Platform string     `json:"platform"`
	Inputs   []v2Tensor `json:"inputs"`
	Outputs  []v2Tensor `json:"outputs"`
}

func (lm *loadedModel) v2Metadata(versions []string) v2ModelMetadata {
	md := v2ModelMetadata{Name: lm.name, Versions: versions, Platform: "flint_" + lm.algorithm,
		Inputs: []v2Tensor{}, Outputs: []v2Tensor{}}
	for j, f := range lm.fields {
		if !lm.input[j] {
			continue
		}
		shape := []int{-1}
		if f.Type == features.Vector {
			shape = []int{-1, f.Dim}
		}
		md.Inputs = append(md.Inputs, v2Tensor{Name: f.Name, Datatype: v2Datatype(f.Type), Shape: shape})
	}
	if lm.pred != nil {
		dt := "FP64"
		if lm.kind != regression {
			dt = "INT64"
		}
		md.Outputs = append(md.Outputs, v2Tensor{Name: outPredict, Datatype: dt, Shape: []int{-1}})
		if lm.proba {
			md.Outputs = append(md.Outputs, v2Tensor{Name: outProba, Datatype: "FP64", Shape: []int{-1, len(lm.classes)}})
		}
		if lm.pairs != nil {
			md.Outputs = append(md.Outputs, v2Tensor{Name: outRow, Datatype: "INT64", Shape: []int{-1}})
		}
	}
	return md
}

// parseOutputs reads the "outputs" array ("Request Output" objects).
func (lm *loadedModel) parseOutputs(sc *jsonscan.Scanner, req *v2Request) error {
	if sc.Peek() != '[' {
		return badRequest(`"outputs": want an array of {"name": ...}, got %s`, sc.Kind())
	}
	if err := sc.Enter('['); err != nil {
		return malformed(err)
	}
	req.outputs = []string{}
	for n := 0; ; n++ {
		more, err := sc.Next(']', n)
		if err != nil {
			return malformed(err)
		}
		if !more {
			return nil
		}
		if sc.Peek() != '{' {
			return badRequest(`outputs[%d]: want {"name": ...}, got %s`, n, sc.Kind())
		}
		if err := sc.Enter('{'); err != nil {
			return malformed(err)
		}
		name := ""
		for i := 0; ; i++ {
			more, err := sc.Next('}', i)
			if err != nil {
				return malformed(err)
			}
			if !more {
				break
			}
			k, err := sc.Key()
			if err != nil {
				return malformed(err)
			}
			switch string(k) {
			case "name":
				v, err := stringValue(sc, fmt.Sprintf("outputs[%d].name", n))
				if err != nil {
					return err
				}
				name = v
			case "parameters":
				if err := parseParameters(sc, fmt.Sprintf("outputs[%d].parameters", n)); err != nil {
					return err
				}
			default:
				return badRequest(`outputs[%d]: unknown key %q: a requested output has "name" and "parameters"`, n, k)
			}
		}
		if !slices.Contains(lm.v2Outputs(), name) {
			return badRequest("outputs[%d]: the model has no output %q (it has %q)", n, name, lm.v2Outputs())
		}
		if !slices.Contains(req.outputs, name) {
			req.outputs = append(req.outputs, name)
		}
	}
}

// v2Outputs names the model's output tensors.
func (lm *loadedModel) v2Outputs() []string {
	switch {
	case lm.proba:
		return []string{outPredict, outProba}
	case lm.pairs != nil:
		return []string{outPredict, outRow}
	}
	return []string{outPredict}
}
