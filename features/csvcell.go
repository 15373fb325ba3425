package features

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// This file decodes CSV records from their bytes without a string per
// cell or per number: cells are sub-slices of the record, and numbers go
// through the same parser as JSON numbers (ParseNumber), falling back to
// strconv.ParseFloat only for the spellings JSON lacks ("+1", ".5", "1.",
// "inf", hex), so a CSV value decodes to exactly what it did before.

// decodeCSVBytes decodes a record whose cells hold no double quote (the
// caller checks); it is decodeCSV's fast path and accepts and rejects the
// same records with the same errors.
func (s *Schema) decodeCSVBytes(row Row, line []byte, delim byte) error {
	ncols := len(s.Columns)
	if ncols == 0 {
		ncols = len(s.Fields) // no columns list: the fields in order
	}
	if n := bytes.Count(line, []byte{delim}) + 1; n != ncols {
		return &FieldError{Err: fmt.Errorf("%d columns, want %d", n, ncols)}
	}
	for i := range row {
		row[i] = missing(s.Fields[i], row[i])
	}
	for c := 0; c < ncols; c++ {
		cell := line
		if k := bytes.IndexByte(line, delim); k >= 0 {
			cell, line = line[:k], line[k+1:]
		}
		i := c
		if len(s.Columns) > 0 {
			if s.Columns[c] == "" {
				continue
			}
			i = s.Index(s.Columns[c])
		}
		row[i].Missing, row[i].Num = false, 0
		if err := setCell(&row[i], s.Fields[i], cell); err != nil {
			return err
		}
	}
	return nil
}

// setCell is setText for a cell given as bytes: numbers and vectors are
// parsed in place, other types take the cell's text.
func setCell(dst *Value, f Field, cell []byte) error {
	switch f.Type {
	case Numeric:
		cell = bytes.TrimSpace(cell)
		if len(cell) == 0 {
			*dst = missing(f, *dst)
			return nil
		}
		n, err := parseCSVNumber(cell)
		if err != nil {
			return fieldErr(f.Name, "want a number, got %q", cell)
		}
		return setNum(dst, f, n)
	case Vector:
		cell = bytes.TrimSpace(cell)
		if len(cell) == 0 {
			*dst = missing(f, *dst)
			return nil
		}
		if !asciiOnly(cell) {
			return setText(dst, f, string(cell)) // Unicode spaces separate elements too: the general path
		}
		return setVectorCell(dst, f, cell)
	}
	return setText(dst, f, string(cell))
}

// parseCSVNumber converts a number's text as strconv.ParseFloat does.
func parseCSVNumber(b []byte) (float64, error) {
	if n, err := ParseNumber(b); err == nil {
		return n, nil
	}
	return strconv.ParseFloat(string(b), 64)
}

func asciiOnly(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// vecSep reports the bytes that separate a vector cell's elements: ASCII
// white space and ';' (the elements strings.Fields finds once ';' is a
// space, for ASCII text).
func vecSep(c byte) bool {
	return c == ' ' || c == ';' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// setVectorCell parses an ASCII vector cell: the count first (so a cell
// with the wrong number of elements says so whatever they hold), then the
// elements into dst.Vec.
func setVectorCell(dst *Value, f Field, cell []byte) error {
	n := 0
	for i := 0; i < len(cell); {
		for i < len(cell) && vecSep(cell[i]) {
			i++
		}
		if i == len(cell) {
			break
		}
		n++
		for i < len(cell) && !vecSep(cell[i]) {
			i++
		}
	}
	if n != f.Dim {
		return fieldErr(f.Name, "want %d numbers separated by spaces or ';', got %d", f.Dim, n)
	}
	j := 0
	for i := 0; i < len(cell); {
		for i < len(cell) && vecSep(cell[i]) {
			i++
		}
		if i == len(cell) {
			break
		}
		start := i
		for i < len(cell) && !vecSep(cell[i]) {
			i++
		}
		p := cell[start:i]
		v, err := parseCSVNumber(p)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fieldErr(f.Name, "element %d: %q is not a finite number", j, p)
		}
		dst.Vec = append(dst.Vec, v)
		j++
	}
	return nil
}
