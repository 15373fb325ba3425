package disk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// The crash test runs the test binary again as a child (TestCrashChild)
// that appends as fast as it can and reports every acknowledged record on
// its stdout, kills it with SIGKILL at a random moment, and checks what
// Open recovers.
//
// TestReadOnlyWhileWriterAppends runs the same child with two more
// variables: a segment size, and a request to stop (finishing, and
// acknowledging, the appends in flight) when its stdin is closed.
const (
	crashDirEnv     = "FLINT_CRASH_CHILD_DIR"
	crashSyncEnv    = "FLINT_CRASH_CHILD_SYNC" // "each" for SyncEachAppend
	crashIterEnv    = "FLINT_CRASH_CHILD_ITER"
	crashSegmentEnv = "FLINT_CRASH_CHILD_SEGMENT_BYTES"
	crashStopEnv    = "FLINT_CRASH_CHILD_STOP_ON_EOF" // "1": stop when stdin is closed
	crashTopic      = "crash"
	crashParts      = 4
	crashWriters    = 3
)

// crashKey names the j-th record of the n-th Append of writer w in
// iteration it; keys are unique across the whole test.
func crashKey(it, w, n, j int) string { return fmt.Sprintf("c%d-%d-%d-%d", it, w, n, j) }

func crashValue(key string) []byte { return valueFor(key, 10+len(key)*7%50) }

// TestCrashChild is the child of TestCrash; it does nothing unless that
// test started it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return
	}
	fail := func(err error) {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	it, _ := strconv.Atoi(os.Getenv(crashIterEnv))
	cfg := Config{Dir: dir} // the defaults: SyncInterval
	if os.Getenv(crashSyncEnv) == "each" {
		cfg.Sync = SyncEachAppend
	}
	cfg.SegmentBytes, _ = strconv.ParseInt(os.Getenv(crashSegmentEnv), 10, 64)
	stop := make(chan struct{})
	if os.Getenv(crashStopEnv) == "1" {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			close(stop)
		}()
	}
	l, err := Open(cfg)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	if err := l.CreateTopic(ctx, crashTopic, log.TopicConfig{Partitions: crashParts}); err != nil && !errors.Is(err, log.ErrTopicExists) {
		fail(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < crashWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var line []byte
			deadline := time.Now().Add(20 * time.Second) // if the parent never kills us
			for n := 0; time.Now().Before(deadline); n++ {
				select {
				case <-stop:
					return
				default:
				}
				recs := make([]log.Record, 1+(n+w)%7)
				for j := range recs {
					k := crashKey(it, w, n, j)
					recs[j] = log.Record{Key: []byte(k), Value: crashValue(k)}
				}
				if err := l.Append(ctx, crashTopic, recs); err != nil {
					fail(err)
				}
				line = line[:0]
				for _, r := range recs {
					line = fmt.Appendf(line, "ack %d %d %s\n", r.Partition, r.Offset, r.Key)
				}
				os.Stdout.Write(line) // one write: atomic on a pipe (under PIPE_BUF)
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		fail(err)
	}
	os.Exit(0)
}

type ack struct {
	partition int
	offset    int64
}

func TestCrash(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the crash child")
	}
	testCrash(t, 0)
}

// TestCrashWhileRolling is TestCrash with 16 KiB segments, so that the
// child rolls every few appends and is killed with a rolled segment still
// waiting for its background fsync (partition.sealRolled), often more than
// one roll into a partition since the last.
func TestCrashWhileRolling(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the crash child")
	}
	testCrash(t, 16<<10)
}

// testCrash kills the crash child at random moments, with segmentBytes as
// its Config.SegmentBytes (0: the default), and checks after each kill that
// Open recovers every acknowledged record and nothing else.
func testCrash(t *testing.T, segmentBytes int64) {
	iterations := 12
	if testing.Short() {
		iterations = 4
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	acked := map[string]ack{}
	hw := make([]int64, crashParts) // high watermarks after the last recovery
	var recovered, total int
	for it := 0; it < iterations; it++ {
		sync := "interval"
		if it == iterations-1 {
			sync = "each"
		}
		delay := time.Duration(20+rng.IntN(130)) * time.Millisecond
		acks, stderr := runCrashChild(t, dir, it, sync, segmentBytes, delay, it == 0)
		for _, line := range acks {
			var a ack
			var key string
			if _, err := fmt.Sscanf(line, "ack %d %d %s", &a.partition, &a.offset, &key); err != nil {
				t.Fatalf("iteration %d: child wrote %q (stderr: %s)", it, line, stderr)
			}
			if _, dup := acked[key]; dup {
				t.Fatalf("iteration %d: key %s acknowledged twice", it, key)
			}
			if want := log.Partition([]byte(key), crashParts); a.partition != want {
				t.Fatalf("key %s acknowledged in partition %d, want %d", key, a.partition, want)
			}
			acked[key] = a
		}
		total += len(acks)

		// Open verifies the CRC of every batch; then check what is new.
		cfg, _ := testConfig(dir)
		l, err := Open(cfg)
		if err != nil {
			t.Fatalf("iteration %d: Open after SIGKILL: %v", it, err)
		}
		recovered += len(l.Recovery())
		present := map[string]ack{}
		for p := 0; p < crashParts; p++ {
			info, err := l.Offsets(context.Background(), crashTopic, p)
			if err != nil {
				t.Fatal(err)
			}
			if info.Latest < hw[p] {
				t.Fatalf("iteration %d: partition %d shrank from %d to %d records", it, p, hw[p], info.Latest)
			}
			for off := hw[p]; off < info.Latest; {
				recs, err := l.Read(context.Background(), crashTopic, p, off, log.ReadOptions{})
				if err != nil {
					t.Fatalf("iteration %d: Read(%d @%d): %v", it, p, off, err)
				}
				for _, r := range recs {
					if r.Offset != off {
						t.Fatalf("iteration %d: partition %d: offset %d where %d was due", it, p, r.Offset, off)
					}
					if !bytes.Equal(r.Value, crashValue(string(r.Key))) {
						t.Fatalf("partition %d offset %d: key %q with a wrong value", p, off, r.Key)
					}
					if _, dup := present[string(r.Key)]; dup || !strings.HasPrefix(string(r.Key), fmt.Sprintf("c%d-", it)) {
						t.Fatalf("partition %d offset %d: key %q twice, or from another iteration", p, off, r.Key)
					}
					present[string(r.Key)] = ack{p, off}
					off++
				}
			}
			hw[p] = info.Latest
		}
		for _, line := range acks {
			var a ack
			var key string
			fmt.Sscanf(line, "ack %d %d %s", &a.partition, &a.offset, &key)
			if got, ok := present[key]; !ok || got != a {
				t.Fatalf("iteration %d (sync=%s): acknowledged %s at %d/%d, found %v (present: %v)", it, sync, key, a.partition, a.offset, got, ok)
			}
		}
		// In order: within a writer, acknowledged appends of one partition
		// have increasing offsets (checked by their being where acked).
		closeLog(t, l)
	}
	// A last full pass: every record ever acknowledged is still there.
	cfg, _ := testConfig(dir)
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	seen := 0
	for p := 0; p < crashParts; p++ {
		for _, r := range readAll(t, l, crashTopic, p) {
			if a, ok := acked[string(r.Key)]; ok {
				if a != (ack{p, r.Offset}) {
					t.Fatalf("%s acknowledged at %v, found at %d/%d", r.Key, a, p, r.Offset)
				}
				seen++
			}
		}
	}
	if seen != len(acked) {
		t.Fatalf("%d of %d acknowledged records found", seen, len(acked))
	}
	if n := len(segments(t, dir, crashTopic, 0)); segmentBytes > 0 && n < iterations {
		t.Fatalf("partition 0 has %d segments after %d kills, want rolls in most runs", n, iterations)
	}
	t.Logf("%d kills, %d records acknowledged, %d torn tails truncated", iterations, total, recovered)
}

// runCrashChild runs the child (with segmentBytes as its
// Config.SegmentBytes) until it has acknowledged records for delay,
// kills it, and returns the ack lines it wrote. checkLock makes it check
// that the child holds the directory's lock.
func runCrashChild(t *testing.T, dir string, it int, sync string, segmentBytes int64, delay time.Duration, checkLock bool) ([]string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSyncEnv+"="+sync, crashIterEnv+"="+strconv.Itoa(it),
		crashSegmentEnv+"="+strconv.FormatInt(segmentBytes, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var acks []string
	take := func(line string) {
		if strings.HasPrefix(line, "error ") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("crash child: %s", line)
		}
		if strings.HasPrefix(line, "ack ") {
			acks = append(acks, line)
		}
	}
	select {
	case line, ok := <-lines:
		if !ok {
			cmd.Wait()
			t.Fatalf("crash child exited before acknowledging anything: %s", stderr.String())
		}
		take(line)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("crash child acknowledged nothing in 30s")
	}
	if checkLock {
		_, err := Open(Config{Dir: dir})
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), strconv.Itoa(cmd.Process.Pid)) {
			t.Errorf("Open while the child runs = %v, want ErrLocked naming pid %d", err, cmd.Process.Pid)
		}
	}
	// The kill comes delay after the first ack, but with small segments
	// not before the child has acknowledged about a segment's worth of
	// records in each partition, so that every run rolls however slowly
	// the machine lets the child append.
	minAcks := int(crashParts * segmentBytes / 64)
	deadline := time.Now().Add(delay)
	var kill <-chan time.Time // armed once minAcks are in
	arm := func() {
		if kill == nil && len(acks) >= minAcks {
			kill = time.After(time.Until(deadline))
		}
	}
	arm()
	for killed := false; !killed; {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("crash child exited before it was killed: %s", stderr.String())
			}
			take(line)
			arm()
		case <-kill:
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	for line := range lines { // what it wrote before dying
		take(line)
	}
	cmd.Wait()
	return acks, stderr.String()
}
