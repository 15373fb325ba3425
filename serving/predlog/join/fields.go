package join

import (
	"encoding/binary"
	"fmt"

	"github.com/flintml/flint/internal/jsonscan"
)

// withLabel returns the JSON object fields with name: label added, and any
// member name it had dropped (a client may send the label field; the
// server ignores it).
func withLabel(fields []byte, name string, label []byte) ([]byte, error) {
	var sc jsonscan.Scanner
	sc.Reset(fields)
	if err := sc.Enter('{'); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(fields)+len(name)+len(label)+8)
	out = append(out, '{')
	for n := 0; ; n++ {
		more, err := sc.Next('}', n)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		sc.Peek()
		from := sc.Pos()
		k, err := sc.Key()
		if err != nil {
			return nil, err
		}
		drop := string(k) == name
		if err := sc.Skip(); err != nil {
			return nil, err
		}
		if !drop {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, fields[from:sc.Pos()]...)
		}
	}
	if err := sc.End(); err != nil {
		return nil, err
	}
	if len(out) > 1 {
		out = append(out, ',')
	}
	q, err := jsonString(name)
	if err != nil {
		return nil, err
	}
	out = append(append(append(out, q...), ':'), label...)
	return append(out, '}'), nil
}

func jsonString(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return nil, fmt.Errorf("label field name %q: use printable ASCII without quotes or backslashes", s)
		}
	}
	return []byte(`"` + s + `"`), nil
}

func uintToBytes(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func bytesToUint(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
