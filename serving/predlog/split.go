package predlog

import (
	"bytes"
	"errors"

	"github.com/flintml/flint/internal/jsonscan"
)

// split finds the members as members does, but without checking the
// syntax of the values: it only matches brackets and skips strings, about
// ten times cheaper than parsing every number again. The server parsed
// and validated the request, and wrote the response, before they were
// queued; should a body still not split cleanly (a key written with
// escapes, say), split falls back to members.
func split(sc *jsonscan.Scanner, dst []span, b []byte, many, one string) ([]span, error) {
	start := len(dst)
	if out, ok := splitFast(dst, b, many, one); ok {
		return out, nil
	}
	return members(sc, dst[:start], b, many, one)
}

var errSplit = errors.New("predlog: not a plain JSON object")

// splitFast reports false where it cannot vouch for its result.
func splitFast(dst []span, b []byte, many, one string) ([]span, bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return dst, false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return dst, skipWS(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return dst, false
		}
		end := bytes.IndexByte(b[i+1:], '"')
		if end < 0 {
			return dst, false
		}
		key := b[i+1 : i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 {
			return dst, false
		}
		i = skipWS(b, i+end+2)
		if i >= len(b) || b[i] != ':' {
			return dst, false
		}
		i = skipWS(b, i+1)
		var err error
		switch {
		case string(key) == many && i < len(b) && b[i] == '[':
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == ']' {
				i++
				break
			}
			for {
				from := i
				if i, err = skipValue(b, i); err != nil {
					return dst, false
				}
				dst = append(dst, span{from, i})
				i = skipWS(b, i)
				if i < len(b) && b[i] == ',' {
					i = skipWS(b, i+1)
					continue
				}
				if i < len(b) && b[i] == ']' {
					i++
					break
				}
				return dst, false
			}
		case one != "" && string(key) == one:
			from := i
			if i, err = skipValue(b, i); err != nil {
				return dst, false
			}
			dst = append(dst, span{from, i})
		default:
			if i, err = skipValue(b, i); err != nil {
				return dst, false
			}
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return dst, skipWS(b, i+1) == len(b)
		}
		return dst, false
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the value at b[i]: a container to its
// matching bracket, a string to its closing quote, anything else to the
// next delimiter.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return i, errSplit
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				var err error
				if i, err = skipString(b, i); err != nil {
					return i, err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return i, errSplit
	}
	from := i
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	if i == from {
		return i, errSplit
	}
	return i, nil
}

// skipString returns the end of the string whose quote is at b[i]. A
// byte loop: the strings here are short keys and values, for which
// bytes.IndexAny costs more to set up than it saves.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return len(b), errSplit
}
