package models_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/models"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-v1.flint")

// sample is an artefact with every field set.
func sample() *models.Artifact {
	return &models.Artifact{
		Algorithm:    "logreg",
		FlintVersion: "v0.3.0",
		Created:      time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC),
		Pipeline:     []byte("pipeline bytes \x00\x01\x02"),
		Params:       []byte{1, 2, 3, 4, 5, 6, 7, 8},
		Metrics:      map[string]float64{"auc": 0.91, "logloss": 0.27, "nan": math.NaN(), "inf": math.Inf(-1), "zero": math.Copysign(0, -1)},
		Spec:         "name: churn\nalgorithm: logreg\n",
		Lineage: []models.Source{
			{Kind: "log", Topic: "events", Partition: 0, From: 0, To: 1200},
			{Kind: "log", Topic: "events", Partition: 1, From: 17, To: 990},
			{Kind: "file", Path: "/data/extra.csv", From: 0, To: -1},
		},
		Extra: map[string][]byte{"calibration": []byte("isotonic"), "zz-note": nil},
	}
}

// equal compares artefacts, NaN metrics included; nil and empty byte slices
// and maps count as equal.
func equal(t *testing.T, got, want *models.Artifact) {
	t.Helper()
	norm := func(a *models.Artifact) models.Artifact {
		c := *a
		c.Metrics = nil
		for _, p := range []*[]byte{&c.Pipeline, &c.Params} {
			if len(*p) == 0 {
				*p = nil
			}
		}
		if len(c.Extra) == 0 {
			c.Extra = nil
		}
		for k, v := range c.Extra {
			if len(v) == 0 {
				c.Extra[k] = nil
			}
		}
		if len(c.Lineage) == 0 {
			c.Lineage = nil
		}
		return c
	}
	g, w := norm(got), norm(want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("artifact differs:\n got %+v\nwant %+v", g, w)
	}
	if len(got.Metrics) != len(want.Metrics) {
		t.Fatalf("metrics: got %v, want %v", got.Metrics, want.Metrics)
	}
	for k, wv := range want.Metrics {
		gv, ok := got.Metrics[k]
		if !ok || math.Float64bits(gv) != math.Float64bits(wv) {
			t.Fatalf("metric %q: got %v, want %v", k, gv, wv)
		}
	}
}

func encode(t testing.TB, a *models.Artifact) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := a.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestArtifactRoundTrip(t *testing.T) {
	for name, a := range map[string]*models.Artifact{
		"full":    sample(),
		"minimal": {Algorithm: "kmeans"},
		"empty-lineage-and-metrics": {Algorithm: "x", Metrics: map[string]float64{}, Lineage: []models.Source{},
			Params: make([]byte, 1<<20)},
	} {
		t.Run(name, func(t *testing.T) {
			b := encode(t, a)
			got, err := models.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			equal(t, got, a)
			if again := encode(t, got); !bytes.Equal(again, b) {
				t.Fatal("re-encoding the decoded artifact gives different bytes")
			}
		})
	}
}

func TestArtifactEncodingIsDeterministic(t *testing.T) {
	first := encode(t, sample())
	for range 20 { // map iteration order changes between runs
		if !bytes.Equal(encode(t, sample()), first) {
			t.Fatal("two encodings of the same artifact differ")
		}
	}
}

// TestArtifactGolden decodes an artefact written when format version 1 was
// made: any change that stops Flint reading old artefacts fails here.
func TestArtifactGolden(t *testing.T) {
	path := filepath.Join("testdata", "golden-v1.flint")
	if *update {
		if err := os.WriteFile(path, encode(t, sample()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := models.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, sample())
	if !bytes.Equal(encode(t, got), b) {
		t.Fatal("re-encoding the golden artifact gives different bytes")
	}
}

func TestArtifactEncodeRejects(t *testing.T) {
	cases := map[string]*models.Artifact{
		"no algorithm":          {},
		"built-in extra":        {Algorithm: "a", Extra: map[string][]byte{"params": nil}},
		"upper-case extra":      {Algorithm: "a", Extra: map[string][]byte{"Notes": nil}},
		"empty extra name":      {Algorithm: "a", Extra: map[string][]byte{"": nil}},
		"created out of range":  {Algorithm: "a", Created: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"extra name with slash": {Algorithm: "a", Extra: map[string][]byte{"a/b": nil}},
	}
	for name, a := range cases {
		if err := a.Encode(io.Discard); err == nil {
			t.Errorf("%s: Encode succeeded", name)
		}
	}
}

// fixup rewrites the length field and checksum of b so they are right for
// its content, the way a hand-edited artefact would need.
func fixup(b []byte) []byte {
	b = bytes.Clone(b)
	if len(b) < 20+sha256.Size {
		return b
	}
	binary.LittleEndian.PutUint64(b[12:], uint64(len(b)))
	sum := sha256.Sum256(b[:len(b)-sha256.Size])
	copy(b[len(b)-sha256.Size:], sum[:])
	return b
}

func TestArtifactDecodeErrors(t *testing.T) {
	good := encode(t, sample())
	withVersion := func(v uint16) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint16(b[8:], v)
		return b
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	cases := []struct {
		name string
		in   []byte
		want error
		what string // in the message
	}{
		{"empty", nil, io.ErrUnexpectedEOF, "header"},
		{"magic prefix only", []byte("FLINT"), io.ErrUnexpectedEOF, "header"},
		{"zip file", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), models.ErrBadMagic, "magic"},
		{"text", []byte("name: churn\nalgorithm: logreg\n"), models.ErrBadMagic, "magic"},
		{"format version 2", withVersion(2), models.ErrUnknownVersion, "format version 2"},
		{"format version 0", withVersion(0), models.ErrUnknownVersion, "format version 0"},
		{"header cut", good[:15], io.ErrUnexpectedEOF, "header"},
		{"cut after header", good[:40], io.ErrUnexpectedEOF, "of"},
		{"cut in the middle", good[:len(good)/2], io.ErrUnexpectedEOF, "of"},
		{"last byte missing", good[:len(good)-1], io.ErrUnexpectedEOF, "of"},
		{"trailing garbage", append(bytes.Clone(good), 0), models.ErrMalformed, "trailing"},
		{"flipped bit", flipped, models.ErrChecksum, "checksum"},
		{"flags set", fixup(func() []byte { b := bytes.Clone(good); b[10] = 1; return b }()), models.ErrMalformed, "flags"},
		{"section renamed", fixup(bytes.Replace(good, []byte("pipeline"), []byte("pipelinx"), 1)), models.ErrMalformed, "section"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := models.Decode(bytes.NewReader(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
			var fe *models.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode error %T is not a *models.FormatError", err)
			}
			if !strings.Contains(err.Error(), tc.what) {
				t.Errorf("error %q does not mention %q", err, tc.what)
			}
		})
	}
}

// FuzzDecode feeds Decode outside input. Each input is tried as it is and
// with its length field and checksum repaired, so the fuzzer gets past the
// checksum into the sections. Decode must never panic, and whatever it
// accepts must re-encode to exactly the bytes it read.
func FuzzDecode(f *testing.F) {
	good := encode(f, sample())
	f.Add(good)
	f.Add(encode(f, &models.Artifact{Algorithm: "a"}))
	f.Add([]byte{})
	f.Add([]byte(models.Magic))
	f.Add(good[:len(good)/2])
	f.Add(append(bytes.Clone(good), good...))
	f.Add(make([]byte, 100))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, fixup(b)} {
			a, err := models.Decode(bytes.NewReader(in))
			if err != nil {
				var fe *models.FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("error %v is not a *models.FormatError", err)
				}
				continue
			}
			out, err := a.MarshalBinary()
			if err != nil {
				t.Fatalf("decoded artifact does not encode: %v", err)
			}
			if !bytes.Equal(out, in) {
				t.Fatalf("decoded %d bytes re-encode to %d different bytes", len(in), len(out))
			}
		}
	})
}
