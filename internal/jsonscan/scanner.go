// Package jsonscan is a strict JSON scanner that reads values in place,
// without reflection and, for numbers and strings without escapes, without
// allocating. Serving reads request bodies with it and features reads JSON
// records with it; both turn what it reads into field values only through
// the features setters.
package jsonscan

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Scanner reads JSON input token by token. It is strict (RFC 8259): no
// trailing commas, no comments, strings must be valid UTF-8, and only
// whitespace may follow the top-level value. Nesting deeper than MaxDepth
// is an error, so no input can exhaust the stack.
//
// The decoders drive it directly (Next/Key/Str/Num/...), so an input is
// decoded into its destination in one pass with no intermediate tree. The
// zero Scanner is ready for Reset.
type Scanner struct {
	b     []byte
	pos   int
	depth int
	buf   []byte // unescaped string scratch; str results may point here
}

// MaxDepth bounds the nesting of JSON objects and arrays.
const MaxDepth = 64

// SyntaxError is malformed JSON; Offset is the byte where it was found.
// Every error of the Scanner's own is one, except Num's *RangeError.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, e.Msg)
}

// Reset starts reading b; the scratch space of earlier inputs is kept.
func (s *Scanner) Reset(b []byte) {
	s.b, s.pos, s.depth = b, 0, 0
}

// Pos returns the offset in the input of the next byte to be read.
func (s *Scanner) Pos() int { return s.pos }

// Input returns the input given to Reset.
func (s *Scanner) Input() []byte { return s.b }

func (s *Scanner) errf(format string, args ...any) error {
	return &SyntaxError{Offset: s.pos, Msg: fmt.Sprintf(format, args...)}
}

func (s *Scanner) ws() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// Peek returns the first byte of the next token, or 0 at the end of input.
func (s *Scanner) Peek() byte {
	s.ws()
	if s.pos >= len(s.b) {
		return 0
	}
	return s.b[s.pos]
}

// Kind names the JSON type of the next value, for error messages.
func (s *Scanner) Kind() string {
	switch c := s.Peek(); {
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

// Enter consumes the opening '{' or '[' of a container.
func (s *Scanner) Enter(open byte) error {
	if c := s.Peek(); c != open {
		return s.errf("want %c, got %s", open, s.Kind())
	}
	s.depth++
	if s.depth > MaxDepth {
		return s.errf("nested deeper than %d levels", MaxDepth)
	}
	s.pos++
	return nil
}

// Next reports whether the container being read has another member; n is
// the number of members read so far. It consumes the ',' before a member
// and the closing delimiter after the last.
func (s *Scanner) Next(close byte, n int) (bool, error) {
	c := s.Peek()
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
		if s.Peek() == close {
			return false, s.errf("trailing comma before '%c'", close)
		}
		return true, nil
	}
	return false, s.errf("want ',' or '%c', got %s", close, s.Kind())
}

// Key reads an object key and the ':' after it. The result is valid until
// the next string is read.
func (s *Scanner) Key() ([]byte, error) {
	if s.Peek() != '"' {
		return nil, s.errf("want an object key (a string), got %s", s.Kind())
	}
	k, err := s.Str()
	if err != nil {
		return nil, err
	}
	if s.Peek() != ':' {
		return nil, s.errf("want ':' after object key")
	}
	s.pos++
	return k, nil
}

// KeyIs reads the next object key and the ':' after it when the key is
// written exactly as quoted (a JSON string without escapes, its quotes
// included: see PlainKey), and reports true. Otherwise it reads nothing
// and reports false: another key, the same one written with escapes, or
// no key at all are for Key to read. Decoders that expect the keys in a
// known order try the expected one with it before calling Key.
func (s *Scanner) KeyIs(quoted string) bool {
	s.ws()
	b := s.b[s.pos:]
	if len(b) <= len(quoted) || string(b[:len(quoted)]) != quoted {
		return false
	}
	i := len(quoted)
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	if i == len(b) || b[i] != ':' {
		return false
	}
	s.pos += i + 1
	return true
}

// NextKeyIs is Next and KeyIs in one step, for a decoder reading the
// members of an object whose keys it expects in a known order: when the
// object has another member (n were read before it) whose key is written
// exactly as quoted, it reads the ',' before it (when n > 0), the key and
// the ':' and reports true. Otherwise it reads nothing and reports false:
// the end of the object, another key, the same one written with escapes,
// or malformed input are for Next and Key to read (and report).
func (s *Scanner) NextKeyIs(n int, quoted string) bool {
	b, i := s.b, skipWS(s.b, s.pos)
	if n > 0 {
		if i >= len(b) || b[i] != ',' {
			return false
		}
		i = skipWS(b, i+1)
	}
	if len(b)-i <= len(quoted) || string(b[i:i+len(quoted)]) != quoted {
		return false
	}
	i = skipWS(b, i+len(quoted))
	if i == len(b) || b[i] != ':' {
		return false
	}
	s.pos = i + 1
	return true
}

// skipWS returns the position of the first byte of b at or after i that
// is not JSON whitespace (len(b) when there is none).
func skipWS(b []byte, i int) int {
	// Every byte above ' ' ends it: one comparison for the usual case.
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// PlainKey returns name as a JSON string when it is written without
// escapes (valid UTF-8 with no '"', '\\' or control character), for
// KeyIs; ok is false when name needs escapes.
func PlainKey(name string) (quoted string, ok bool) {
	if !utf8.ValidString(name) {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	return `"` + name + `"`, true
}

// End checks that nothing but whitespace follows the top-level value.
func (s *Scanner) End() error {
	if s.Peek() != 0 {
		return s.errf("unexpected %s after the top-level value", s.Kind())
	}
	return nil
}

// Str reads a string. The result points into the input or into s.buf and
// is valid until the next string is read.
func (s *Scanner) Str() ([]byte, error) {
	if c := s.Peek(); c != '"' {
		return nil, s.errf("want a string, got %s", s.Kind())
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
func (s *Scanner) unescape(start int) ([]byte, error) {
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

// RangeError is a well-formed number that is not a finite float64 (Num
// reports it; Skip accepts such a number).
type RangeError struct{ Text string }

func (e *RangeError) Error() string { return fmt.Sprintf("number %s is out of range", e.Text) }

// NumLit reads the bytes of a number without checking them: the caller
// checks the grammar where it converts them (ParseNumber, or the features
// setters; NumErr turns their error into the Scanner's).
func (s *Scanner) NumLit() []byte {
	s.ws()
	start := s.pos
	s.pos += NumberLen(s.b[s.pos:])
	return s.b[start:s.pos]
}

// Float reads a number when it is one ParseNumber converts on its fast
// path (at most 19 significant digits, a power of ten a float64 holds
// exactly) and reports true; the result has the bits ParseNumber (and
// strconv.ParseFloat) give. Anything else, a number or not, it leaves
// unread and reports false, for NumLit or Num to read: it reads the input
// once, where NumLit and ParseNumber read it twice.
func (s *Scanner) Float() (float64, bool) {
	s.ws()
	if f, end, ok := plainFloat(s.b, s.pos); ok {
		s.pos = end
		return f, true
	}
	b := s.b[s.pos:]
	d, end, msg := scanDecimal(b)
	if msg != "" || !d.exact || end < len(b) && isNumberByte(b[end]) {
		return 0, false // not a number, or one NumLit would read differently
	}
	f, ok := fastNumber(d.mant, d.exp, d.neg)
	if ok {
		s.pos += end
	}
	return f, ok
}

// Num reads a number and converts it with ParseNumber. A number too large
// for a float64 is a *RangeError.
func (s *Scanner) Num() (float64, error) {
	s.ws()
	start := s.pos
	if c := s.Peek(); c != '-' && (c < '0' || c > '9') {
		return 0, s.errf("want a number, got %s", s.Kind())
	}
	f, err := ParseNumber(s.NumLit())
	if err != nil {
		return 0, s.NumErr(start, err)
	}
	return f, nil
}

// NumErr turns a *NumberError about the number that started at byte
// start into a *SyntaxError (not a JSON number) or a *RangeError (out of
// range); other errors pass through.
func (s *Scanner) NumErr(start int, err error) error {
	var ne *NumberError
	switch {
	case !errors.As(err, &ne):
		return err
	case ne.Syntax():
		return &SyntaxError{Offset: start + ne.Offset, Msg: ne.Msg}
	}
	return &RangeError{Text: ne.Text}
}

// Literal reads true, false or null.
func (s *Scanner) Literal() (byte, error) {
	c := s.Peek()
	var want string
	switch c {
	case 't':
		want = "true"
	case 'f':
		want = "false"
	case 'n':
		want = "null"
	default:
		return 0, s.errf("want true, false or null, got %s", s.Kind())
	}
	if len(s.b)-s.pos < len(want) || string(s.b[s.pos:s.pos+len(want)]) != want {
		return 0, s.errf("bad literal, want %s", want)
	}
	s.pos += len(want)
	return c, nil
}

// Skip reads and discards one value of any type, checking its syntax.
func (s *Scanner) Skip() error {
	switch c := s.Peek(); {
	case c == '{':
		if err := s.Enter('{'); err != nil {
			return err
		}
		for n := 0; ; n++ {
			more, err := s.Next('}', n)
			if err != nil || !more {
				return err
			}
			if _, err := s.Key(); err != nil {
				return err
			}
			if err := s.Skip(); err != nil {
				return err
			}
		}
	case c == '[':
		if err := s.Enter('['); err != nil {
			return err
		}
		for n := 0; ; n++ {
			more, err := s.Next(']', n)
			if err != nil || !more {
				return err
			}
			if err := s.Skip(); err != nil {
				return err
			}
		}
	case c == '"':
		_, err := s.Str()
		return err
	case c == 't' || c == 'f' || c == 'n':
		_, err := s.Literal()
		return err
	case c == 0:
		return s.errf("unexpected end of input, want a value")
	default:
		_, err := s.Num()
		if _, ok := err.(*RangeError); ok {
			return nil // out of range but well-formed: a skipped value is not used
		}
		return err
	}
}
