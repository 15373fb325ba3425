package serving

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/flintml/flint/features"
)

// scanner reads JSON request bodies without reflection and, for numbers and
// strings without escapes, without allocating. It is strict (RFC 8259): no
// trailing commas, no comments, strings must be valid UTF-8, and only
// whitespace may follow the top-level value. Nesting deeper than maxDepth
// is an error, so no body can exhaust the stack.
//
// The decoders drive it directly (next/key/str/num/...), so a body is
// decoded into feature vectors in one pass with no intermediate tree.
type scanner struct {
	b     []byte
	pos   int
	depth int
	buf   []byte // unescaped string scratch; str results may point here
}

// maxDepth bounds the nesting of JSON objects and arrays.
const maxDepth = 64

// syntaxError is malformed JSON; Offset is the byte where it was found.
type syntaxError struct {
	Offset int
	Msg    string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, e.Msg)
}

func (s *scanner) reset(b []byte) {
	s.b, s.pos, s.depth = b, 0, 0
}

func (s *scanner) errf(format string, args ...any) error {
	return &syntaxError{Offset: s.pos, Msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) ws() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the first byte of the next token, or 0 at the end of input.
func (s *scanner) peek() byte {
	s.ws()
	if s.pos >= len(s.b) {
		return 0
	}
	return s.b[s.pos]
}

// kind names the JSON type of the next value, for error messages.
func (s *scanner) kind() string {
	switch c := s.peek(); {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	case c == 0:
		return "the end of the input"
	}
	return fmt.Sprintf("%q", s.b[s.pos])
}

// enter consumes the opening '{' or '[' of a container.
func (s *scanner) enter(open byte) error {
	if c := s.peek(); c != open {
		return s.errf("want %c, got %s", open, s.kind())
	}
	s.depth++
	if s.depth > maxDepth {
		return s.errf("nested deeper than %d levels", maxDepth)
	}
	s.pos++
	return nil
}

// next reports whether the container being read has another member; n is
// the number of members read so far. It consumes the ',' before a member
// and the closing delimiter after the last.
func (s *scanner) next(close byte, n int) (bool, error) {
	c := s.peek()
	switch {
	case c == close:
		s.pos++
		s.depth--
		return false, nil
	case c == 0:
		return false, s.errf("unexpected end of input, want ',' or '%c'", close)
	case n == 0:
		return true, nil
	case c == ',':
		s.pos++
		if s.peek() == close {
			return false, s.errf("trailing comma before '%c'", close)
		}
		return true, nil
	}
	return false, s.errf("want ',' or '%c', got %s", close, s.kind())
}

// key reads an object key and the ':' after it. The result is valid until
// the next string is read.
func (s *scanner) key() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.errf("want an object key (a string), got %s", s.kind())
	}
	k, err := s.str()
	if err != nil {
		return nil, err
	}
	if s.peek() != ':' {
		return nil, s.errf("want ':' after object key")
	}
	s.pos++
	return k, nil
}

// end checks that nothing but whitespace follows the top-level value.
func (s *scanner) end() error {
	if s.peek() != 0 {
		return s.errf("unexpected %s after the top-level value", s.kind())
	}
	return nil
}

// str reads a string. The result points into the input or into s.buf and
// is valid until the next call.
func (s *scanner) str() ([]byte, error) {
	if c := s.peek(); c != '"' {
		return nil, s.errf("want a string, got %s", s.kind())
	}
	start := s.pos + 1
	var high byte
	for i := start; i < len(s.b); i++ {
		c := s.b[i]
		switch {
		case c == '"':
			raw := s.b[start:i]
			if high >= utf8.RuneSelf && !utf8.Valid(raw) {
				return nil, s.errf("string is not valid UTF-8")
			}
			s.pos = i + 1
			return raw, nil
		case c == '\\':
			s.pos = i
			return s.unescape(start)
		case c < 0x20:
			s.pos = i
			return nil, s.errf("control character %#02x in string", c)
		}
		high |= c
	}
	s.pos = len(s.b)
	return nil, s.errf("unterminated string")
}

// unescape finishes a string with escapes; s.pos is at the first '\\'.
func (s *scanner) unescape(start int) ([]byte, error) {
	out := append(s.buf[:0], s.b[start:s.pos]...)
	i := s.pos
	for i < len(s.b) {
		c := s.b[i]
		switch {
		case c == '"':
			s.pos = i + 1
			s.buf = out
			if !utf8.Valid(out) {
				return nil, s.errf("string is not valid UTF-8")
			}
			return out, nil
		case c < 0x20:
			s.pos = i
			return nil, s.errf("control character %#02x in string", c)
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(s.b) {
			break
		}
		switch e := s.b[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s.b[i+2:])
			if !ok {
				s.pos = i
				return nil, s.errf(`bad \u escape`)
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A pair makes one rune; a lone surrogate becomes U+FFFD,
				// as encoding/json decodes it.
				r2, ok := rune(-1), false
				if i+1 < len(s.b) && s.b[i] == '\\' && s.b[i+1] == 'u' {
					r2, ok = hex4(s.b[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			s.pos = i
			return nil, s.errf("bad escape \\%c", e)
		}
		i += 2
	}
	s.pos = len(s.b)
	return nil, s.errf("unterminated string")
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// numberError is a well-formed number that is not a finite float64.
type numberError struct{ text string }

func (e *numberError) Error() string { return fmt.Sprintf("number %s is out of range", e.text) }

// numLit reads the bytes of a number without checking them: features
// checks the grammar where it converts them (numErr turns its error into
// the scanner's).
func (s *scanner) numLit() []byte {
	s.ws()
	start := s.pos
	s.pos += features.NumberLen(s.b[s.pos:])
	return s.b[start:s.pos]
}

// num reads a number and converts it with features.ParseNumber. A number
// too large for a float64 is a *numberError.
func (s *scanner) num() (float64, error) {
	s.ws()
	start := s.pos
	if c := s.peek(); c != '-' && (c < '0' || c > '9') {
		return 0, s.errf("want a number, got %s", s.kind())
	}
	f, err := features.ParseNumber(s.numLit())
	if err != nil {
		return 0, s.numErr(start, err)
	}
	return f, nil
}

// numErr turns a features.NumberError about the number that started at
// byte start into a *syntaxError (not a JSON number) or a *numberError
// (out of range); other errors pass through.
func (s *scanner) numErr(start int, err error) error {
	var ne *features.NumberError
	switch {
	case !errors.As(err, &ne):
		return err
	case ne.Syntax():
		return &syntaxError{Offset: start + ne.Offset, Msg: ne.Msg}
	}
	return &numberError{text: ne.Text}
}

// literal reads true, false or null.
func (s *scanner) literal() (byte, error) {
	c := s.peek()
	var want string
	switch c {
	case 't':
		want = "true"
	case 'f':
		want = "false"
	case 'n':
		want = "null"
	default:
		return 0, s.errf("want true, false or null, got %s", s.kind())
	}
	if len(s.b)-s.pos < len(want) || string(s.b[s.pos:s.pos+len(want)]) != want {
		return 0, s.errf("bad literal, want %s", want)
	}
	s.pos += len(want)
	return c, nil
}

// skip reads and discards one value of any type, checking its syntax.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '{':
		if err := s.enter('{'); err != nil {
			return err
		}
		for n := 0; ; n++ {
			more, err := s.next('}', n)
			if err != nil || !more {
				return err
			}
			if _, err := s.key(); err != nil {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case c == '[':
		if err := s.enter('['); err != nil {
			return err
		}
		for n := 0; ; n++ {
			more, err := s.next(']', n)
			if err != nil || !more {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case c == '"':
		_, err := s.str()
		return err
	case c == 't' || c == 'f' || c == 'n':
		_, err := s.literal()
		return err
	case c == 0:
		return s.errf("unexpected end of input, want a value")
	default:
		_, err := s.num()
		if _, ok := err.(*numberError); ok {
			return nil // out of range but well-formed: a skipped value is not used
		}
		return err
	}
}
