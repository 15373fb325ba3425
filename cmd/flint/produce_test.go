package main

import (
	"encoding/json"
	"fmt"
	"github.com/flintml/flint/internal/syncbuf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/kafka/kafkatest"
)

// piped is a flint process whose standard input the test holds open.
type piped struct {
	cmd      *exec.Cmd
	in       io.WriteCloser
	out, err *syncbuf.Buffer
	done     chan error
}

func startPiped(t *testing.T, args ...string) *piped {
	t.Helper()
	c := &piped{cmd: exec.Command(os.Args[0], args...), out: &syncbuf.Buffer{}, err: &syncbuf.Buffer{}, done: make(chan error, 1)}
	c.cmd.Env = append(os.Environ(), "FLINT_TEST_MAIN=1")
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.err
	var err error
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		c.in.Close()
	})
	return c
}

// waitFor polls until cond holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exit waits for the piped to exit, for up to limit, and returns its code.
func (c *piped) exit(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case err := <-c.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(limit):
		t.Fatalf("the process did not exit within %v; stderr:\n%s", limit, c.err)
		return -1
	}
}

var ackLine = regexp.MustCompile(`(?m)^t (\d+) (\d+)$`)

// TestProduceStopsOnSignalWhileInputIsIdle holds produce's standard input
// open after one line: the record is acknowledged (--acks) without waiting
// for more input, progress shows on stderr, and SIGINT or SIGTERM stops the
// process promptly, reporting what was acknowledged.
func TestProduceStopsOnSignalWhileInputIsIdle(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			logFlag := "--log=dir:" + filepath.Join(t.TempDir(), "log")
			c := startPiped(t, logFlag, "log", "produce", "t", "--acks", "--progress", "20ms")
			if _, err := io.WriteString(c.in, "a\tb\n"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the acknowledgement on stdout", func() bool { return ackLine.MatchString(c.out.String()) })
			waitFor(t, "a progress line on stderr", func() bool { return strings.Contains(c.err.String(), "produced 1 records to t so far") })
			if err := c.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := c.exit(t, 20*time.Second); code == 0 {
				t.Fatalf("exit code 0 after %v", sig)
			}
			mustContain(t, "stderr", c.err.String(), "interrupted: 1 records were acknowledged to t")
			if got := mustProc(t, "", logFlag, "log", "consume", "t", "--format", "kv"); got != "a\tb\n" {
				t.Fatalf("consume after the interrupted produce = %q", got)
			}
		})
	}
}

// TestIngestStopsOnSignalWhileInputIsIdle is the same for flint ingest.
func TestIngestStopsOnSignalWhileInputIsIdle(t *testing.T) {
	dir := t.TempDir()
	schema := filepath.Join(dir, "schema.yaml")
	if err := os.WriteFile(schema, []byte("format: csv\nfields:\n  - {name: x, type: numeric}\n  - {name: y, type: numeric}\nlabel: y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logFlag := "--log=dir:" + filepath.Join(dir, "log")
	c := startPiped(t, logFlag, "ingest", "--topic", "t", "--schema", schema, "--batch", "1", "--acks", "--progress", "20ms")
	if _, err := io.WriteString(c.in, "1,2\n3,4\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two acknowledgements", func() bool { return len(ackLine.FindAllString(c.out.String(), -1)) == 2 })
	waitFor(t, "a progress line", func() bool { return strings.Contains(c.err.String(), "appended 2 records to t so far") })
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.exit(t, 20*time.Second); code == 0 {
		t.Fatal("exit code 0 after SIGTERM")
	}
	mustContain(t, "stderr", c.err.String(), "2 records were appended to t")
}

// TestProduceAcksAndHeaders checks one acknowledgement line per record,
// naming where each went, and that --header values come back in order,
// duplicates kept, through --format json.
func TestProduceAcksAndHeaders(t *testing.T) {
	logFlag := "--log=dir:" + filepath.Join(t.TempDir(), "log")
	mustRun(t, "", logFlag, "log", "create", "t", "--partitions", "3")
	var in strings.Builder
	for i := range 50 {
		fmt.Fprintf(&in, "k%d\tv%d\n", i, i)
	}
	out, errOut, err := run(t, in.String(), logFlag, "log", "produce", "t", "--acks", "--batch", "7", "--header", "src=test", "--header", "src=again", "--header", "empty=")
	if err != nil {
		t.Fatalf("produce: %v\n%s", err, errOut)
	}
	acks := ackLine.FindAllStringSubmatch(out, -1)
	if len(acks) != 50 || strings.Count(out, "\n") != 50 {
		t.Fatalf("%d acknowledgement lines, want 50:\n%s", len(acks), out)
	}
	seen := map[string]bool{}
	for _, a := range acks {
		if seen[a[0]] {
			t.Fatalf("%q acknowledged twice", a[0])
		}
		seen[a[0]] = true
	}
	full := mustRun(t, "", logFlag, "log", "consume", "t", "--format", "full")
	for _, a := range acks {
		if !strings.Contains(full, a[1]+"\t"+a[2]+"\t") {
			t.Fatalf("acknowledged %s/%s is not in the topic", a[1], a[2])
		}
	}
	js := mustRun(t, "", logFlag, "log", "consume", "t", "--format", "json", "--max", "1")
	var rec struct {
		Headers []map[string]any `json:"headers"`
	}
	if err := json.Unmarshal([]byte(js), &rec); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	want := `[map[key:src value:test] map[key:src value:again] map[key:empty value:]]`
	if got := fmt.Sprint(rec.Headers); got != want {
		t.Fatalf("headers = %s, want %s", got, want)
	}
	if _, _, err := run(t, "x\n", logFlag, "log", "produce", "t", "--header", "novalue"); err == nil || !strings.Contains(err.Error(), `--header "novalue"`) {
		t.Fatalf("--header without = gave %v", err)
	}
}

// TestConsumeJSONEmptyKeys checks that an empty key is "" and a missing one
// absent, through the binary.
func TestConsumeJSONEmptyKeys(t *testing.T) {
	logFlag := "--log=dir:" + filepath.Join(t.TempDir(), "log")
	mustRun(t, "\tx\nnokey\n", logFlag, "log", "produce", "t", "--linger", "1h")
	js := mustRun(t, "", logFlag, "log", "consume", "t", "--format", "json")
	mustContain(t, "json", js, `"key":"","value":"x"`, `"value":"nokey"`)
	if strings.Contains(js, `"key":null`) || strings.Count(js, `"key"`) != 1 {
		t.Fatalf("json: %s", js)
	}
}

// TestJSONRecordBinary checks the JSON of bytes that are not UTF-8 and of
// null header values, which produce's lines cannot make.
func TestJSONRecordBinary(t *testing.T) {
	jr := newJSONRecord(logRecord([]byte{0xff, 0}, []byte{}, "h", []byte{0xff, 0xfe}, "n", []byte(nil)))
	b, err := json.Marshal(jr)
	if err != nil {
		t.Fatal(err)
	}
	want := `"key_base64":"/wA=","value":"","headers":[{"key":"h","value":null,"base64":"//4="},{"key":"n","value":null}]`
	if !strings.Contains(string(b), want) {
		t.Fatalf("json = %s, want it to contain %s", b, want)
	}
}

// logRecord is a record with key, value and headers given as name, value
// pairs.
func logRecord(key, value []byte, hs ...any) log.Record {
	r := log.Record{Key: key, Value: value}
	for i := 0; i+1 < len(hs); i += 2 {
		r.Headers = append(r.Headers, log.Header{Key: hs[i].(string), Value: hs[i+1].([]byte)})
	}
	return r
}

// TestEmptyIsNotNullOnKafka is issue 14's reproduction through the binary:
// an empty value first in a fetch, then an empty key, produced to Kafka
// (kfake in process, or $FLINT_TEST_KAFKA) read back as "" and not null.
func TestEmptyIsNotNullOnKafka(t *testing.T) {
	logFlag := "--log=kafka:" + strings.Join(kafkatest.Brokers(t), ",")
	topic := fmt.Sprintf("empty-%d", time.Now().UnixNano())
	mustProc(t, "", logFlag, "log", "create", topic, "--partitions", "1")
	mustProc(t, "\n\tx\n", logFlag, "log", "produce", topic)
	js := mustProc(t, "", logFlag, "log", "consume", topic, "--format", "json")
	lines := strings.Split(strings.TrimSpace(js), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"offset":0,`) || !strings.Contains(lines[0], `"value":""`) || strings.Contains(lines[0], `"key"`) ||
		!strings.Contains(lines[1], `"key":"","value":"x"`) {
		t.Fatalf("consume --format json:\n%s\nwant offset 0 with an empty value and no key, offset 1 with an empty key", js)
	}
}
