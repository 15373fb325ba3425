package logspec

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Spec
		str  string // String() of the result; "" means in
	}{
		{in: "dir:flint-data/log", want: Spec{Backend: Dir, Dir: "flint-data/log"}},
		{in: "dir:/abs/path with spaces", want: Spec{Backend: Dir, Dir: "/abs/path with spaces"}},
		// A dir: path is taken literally, options and all.
		{in: "dir:x?tls=true&a,b:c", want: Spec{Backend: Dir, Dir: "x?tls=true&a,b:c"}},
		{in: "kafka:localhost:9092", want: Spec{Backend: Kafka, Brokers: []string{"localhost:9092"}}},
		{in: "kafka:k1:9092,k2:9093,[::1]:9094", want: Spec{Backend: Kafka, Brokers: []string{"k1:9092", "k2:9093", "[::1]:9094"}}},
		{in: "kafka:k:9093?tls=true", want: Spec{Backend: Kafka, Brokers: []string{"k:9093"}, TLS: true}},
		{in: "kafka:k:9093?tls=false", want: Spec{Backend: Kafka, Brokers: []string{"k:9093"}}, str: "kafka:k:9093"},
		{in: "kafka:k:9093?ca=/etc/kafka/ca.pem", want: Spec{Backend: Kafka, Brokers: []string{"k:9093"}, TLS: true, CAFile: "/etc/kafka/ca.pem"},
			str: "kafka:k:9093?tls=true&ca=/etc/kafka/ca.pem"},
		{in: "kafka:k:9093?ca=certs/a=b?c.pem", want: Spec{Backend: Kafka, Brokers: []string{"k:9093"}, TLS: true, CAFile: "certs/a=b?c.pem"},
			str: "kafka:k:9093?tls=true&ca=certs/a=b?c.pem"},
		{in: "kafka:k:9093?insecure=true", want: Spec{Backend: Kafka, Brokers: []string{"k:9093"}, TLS: true, Insecure: true},
			str: "kafka:k:9093?tls=true&insecure=true"},
		{in: "kafka:k:9093?tls=true&insecure=false", want: Spec{Backend: Kafka, Brokers: []string{"k:9093"}, TLS: true}, str: "kafka:k:9093?tls=true"},
		{in: "kafka:k:9092?sasl=plain", want: Spec{Backend: Kafka, Brokers: []string{"k:9092"}, SASL: Plain}},
		{in: "kafka:k:9092?sasl=SCRAM-SHA-256", want: Spec{Backend: Kafka, Brokers: []string{"k:9092"}, SASL: ScramSHA256}, str: "kafka:k:9092?sasl=scram-sha-256"},
		{in: "kafka:k:9092?sasl=scram-sha-512&tls=true", want: Spec{Backend: Kafka, Brokers: []string{"k:9092"}, TLS: true, SASL: ScramSHA512},
			str: "kafka:k:9092?tls=true&sasl=scram-sha-512"},
		{in: "kafka:a:1,b:2?sasl=plain&ca=ca.pem&tls=true", want: Spec{Backend: Kafka, Brokers: []string{"a:1", "b:2"}, TLS: true, CAFile: "ca.pem", SASL: Plain},
			str: "kafka:a:1,b:2?tls=true&ca=ca.pem&sasl=plain"},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := Parse(c.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.in, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Parse(%q) = %#v, want %#v", c.in, got, c.want)
			}
			str := c.str
			if str == "" {
				str = c.in
			}
			if got.String() != str {
				t.Fatalf("Parse(%q).String() = %q, want %q", c.in, got.String(), str)
			}
			again, err := Parse(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("Parse(%q) = %#v, %v; want %#v", got.String(), again, err, got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const want = " (want dir:PATH or kafka:HOST:PORT[,HOST:PORT...][?OPTION=VALUE&...])"
	for _, c := range []struct{ in, err string }{
		{"", `--log "": no backend prefix` + want},
		{"flint-data/log", `--log "flint-data/log": no backend prefix` + want},
		{"foo:bar", `--log "foo:bar": unknown backend "foo"` + want},
		{"Dir:x", `--log "Dir:x": unknown backend "Dir"` + want},
		{"dir:", `--log "dir:": empty directory` + want},
		{"kafka:", `--log "kafka:": no brokers` + want},
		{"kafka:?tls=true", `--log "kafka:?tls=true": no brokers` + want},
		{"kafka:nohost", `--log "kafka:nohost": broker "nohost" is not HOST:PORT` + want},
		{"kafka:a:1,,b:2", `--log "kafka:a:1,,b:2": broker "" is not HOST:PORT` + want},
		{"kafka::9092", `--log "kafka::9092": broker ":9092" is not HOST:PORT` + want},
		{"kafka:a:", `--log "kafka:a:": broker "a:" is not HOST:PORT` + want},
		{"kafka:a:b", `--log "kafka:a:b": broker "a:b": port "b" is not a number from 1 to 65535`},
		{"kafka:a:0", `--log "kafka:a:0": broker "a:0": port "0" is not a number from 1 to 65535`},
		{"kafka:a:65536", `--log "kafka:a:65536": broker "a:65536": port "65536" is not a number from 1 to 65535`},
		{"kafka:a:1?", `--log "kafka:a:1?": nothing after "?" (want OPTION=VALUE[&OPTION=VALUE...]; options are tls, ca, insecure and sasl)`},
		{"kafka:a:1?tls=true&", `--log "kafka:a:1?tls=true&": empty option between "&"s`},
		{"kafka:a:1?ssl=true", `--log "kafka:a:1?ssl=true": unknown option "ssl" (want tls, ca, insecure or sasl)`},
		{"kafka:a:1?TLS=true", `--log "kafka:a:1?TLS=true": unknown option "TLS" (want tls, ca, insecure or sasl)`},
		{"kafka:a:1?tls", `--log "kafka:a:1?tls": option tls has no value (want tls=true or tls=false)`},
		{"kafka:a:1?ca=", `--log "kafka:a:1?ca=": option ca has no value (want ca=FILE, a PEM file of CA certificates)`},
		{"kafka:a:1?sasl=", `--log "kafka:a:1?sasl=": option sasl has no value (want sasl=plain, sasl=scram-sha-256 or sasl=scram-sha-512)`},
		{"kafka:a:1?tls=yes", `--log "kafka:a:1?tls=yes": tls="yes" (want tls=true or tls=false)`},
		{"kafka:a:1?insecure=1", `--log "kafka:a:1?insecure=1": insecure="1" (want insecure=true or insecure=false)`},
		{"kafka:a:1?tls=true&tls=true", `--log "kafka:a:1?tls=true&tls=true": option tls given twice`},
		{"kafka:a:1?sasl=md5", `--log "kafka:a:1?sasl=md5": unknown sasl mechanism "md5" (want plain, scram-sha-256 or scram-sha-512)`},
		{"kafka:a:1?sasl=gssapi", `--log "kafka:a:1?sasl=gssapi": unknown sasl mechanism "gssapi" (want plain, scram-sha-256 or scram-sha-512)`},
		{"kafka:a:1?tls=false&ca=ca.pem", `--log "kafka:a:1?tls=false&ca=ca.pem": ca= needs TLS, but tls=false`},
		{"kafka:a:1?insecure=true&tls=false", `--log "kafka:a:1?insecure=true&tls=false": insecure=true needs TLS, but tls=false`},
		{"kafka:a:1?ca=ca.pem&insecure=true", `--log "kafka:a:1?ca=ca.pem&insecure=true": ca= and insecure=true together: insecure=true verifies nothing, so the CA would go unused`},
	} {
		t.Run(c.in, func(t *testing.T) {
			s, err := Parse(c.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want an error", c.in, s)
			}
			if err.Error() != c.err {
				t.Fatalf("Parse(%q):\n got %s\nwant %s", c.in, err, c.err)
			}
		})
	}
}

func TestAbs(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want string }{
		{"dir:flint-data/log", "dir:" + filepath.Join(wd, "flint-data/log")},
		{"dir:/srv/log/../log", "dir:/srv/log"},
		{"kafka:a:1,b:2", "kafka:a:1,b:2"},
		{"kafka:a:1?sasl=PLAIN&ca=certs/ca.pem", "kafka:a:1?tls=true&ca=" + filepath.Join(wd, "certs/ca.pem") + "&sasl=plain"},
	} {
		s, err := Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		abs, err := s.Abs()
		if err != nil || abs.String() != c.want {
			t.Errorf("Parse(%q).Abs() = %q, %v; want %q", c.in, abs, err, c.want)
		}
	}
}

// FuzzParse checks that Parse never panics and that the String of what it
// accepts parses back to the same Spec, and is already canonical.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", ":", "dir:", "dir:x", "dir:x?tls=true", "kafka:", "kafka:a:1", "kafka:a:1,b:2", "kafka:[::1]:9092",
		"kafka:a:1?", "kafka:a:1?tls=true", "kafka:a:1?ca=x?y=z&sasl=PLAIN", "kafka:a:1?insecure=true&sasl=scram-sha-512",
		"kafka:a:1?tls=false&ca=x", "kafka:a:1?&", "kafka:a:1?sasl=md5", "kafka:a:99999", "kafka:a:1,,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			return
		}
		str := s.String()
		again, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q) = %#v; its String %q does not parse: %v", in, s, str, err)
		}
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("Parse(%q) = %#v; Parse(%q) = %#v", in, s, str, again)
		}
		if again.String() != str {
			t.Fatalf("String is not canonical: %q, then %q", str, again.String())
		}
	})
}
