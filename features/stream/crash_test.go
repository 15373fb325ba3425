package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/flintml/flint/internal/syncbuf"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/log/kafka/kafkatest"
)

// The crash tests run the processor in a child process (this test binary,
// re-executed with childEnv set) and SIGKILL it again and again while it
// consumes; the environment tells the child what to run.
const (
	childEnv      = "FLINT_STREAM_PROCESSOR_CHILD" // the log: dir:PATH or kafka:HOST:PORT,...
	childDefsEnv  = "FLINT_STREAM_PROCESSOR_DEFS"
	childStateEnv = "FLINT_STREAM_PROCESSOR_STATE"
	childCrashEnv = "FLINT_STREAM_PROCESSOR_CRASH"       // POINT:N: SIGKILL itself the Nth time at POINT
	childRepEnv   = "FLINT_STREAM_PROCESSOR_REPARTITION" // set: run the repartition stage
	childEmitEnv  = "FLINT_STREAM_PROCESSOR_EMIT"        // every (default) or latest
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		if err := runChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// skipExternalKafka skips a test on an external broker: the tests use
// fixed topic and group names, which another run there may hold.
func skipExternalKafka(t *testing.T) {
	if kafkatest.External() {
		t.Skip("the processor's Kafka tests use fixed topic and group names; they run on the in-process broker only")
	}
}

// kafkaConfig has group timings short enough that a killed member's
// partitions move on within a second on the test broker.
func kafkaConfig(addrs []string) kafka.Config {
	return kafka.Config{Brokers: addrs, HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: time.Second,
		RebalanceTimeout: 2 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
}

// runChild runs a processor until it is killed.
func runChild(spec string) error {
	ctx := context.Background()
	var l log.Log
	var err error
	if addrs, ok := strings.CutPrefix(spec, "kafka:"); ok {
		l, err = kafka.New(ctx, kafkaConfig(strings.Split(addrs, ",")))
	} else {
		l, err = disk.Open(disk.Config{Dir: strings.TrimPrefix(spec, "dir:")})
	}
	if err != nil {
		return err
	}
	path := os.Getenv(childDefsEnv)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	def, err := Parse(path, data)
	if err != nil {
		return err
	}
	emit, err := ParseEmit(cmp.Or(os.Getenv(childEmitEnv), "every"))
	if err != nil {
		return err
	}
	p, err := NewProcessor(ctx, ProcessorConfig{Log: l, Definition: def, Dir: os.Getenv(childStateEnv),
		MaxRecords: 7, PollWait: 50 * time.Millisecond, Repartition: os.Getenv(childRepEnv) != "", Emit: emit,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	if point, n, ok := strings.Cut(os.Getenv(childCrashEnv), ":"); ok {
		left, err := strconv.Atoi(n)
		if err != nil {
			return err
		}
		p.crashPoint = func(at string) {
			if at == point {
				if left--; left == 0 {
					_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
	}
	return p.Run(ctx)
}

// child is a processor running in a child process.
type child struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan struct{} // closed when it has exited
}

func startChild(t *testing.T, spec, defs, state, crash string, emit Emit) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+spec, childDefsEnv+"="+defs, childStateEnv+"="+state, childCrashEnv+"="+crash,
		childEmitEnv+"="+[...]string{EmitLatest: "latest", EmitEvery: "every"}[emit])
	c := &child{cmd: cmd, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
	})
	return c
}

// exited reports whether the child has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the child (unless it has killed itself) and fails if it
// stopped any other way.
func (c *child) kill(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		t.Fatal("a SIGKILLed child did not exit within a minute")
	}
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the processor child stopped with %v, not by SIGKILL:\n%s", c.cmd.ProcessState, c.stderr)
	}
}

// tableCount counts the feature table's records: 0 before the processor
// has created it.
func tableCount(t *testing.T, l log.Log) int {
	info, err := l.Describe(context.Background(), "features.cards.table")
	if errors.Is(err, log.ErrUnknownTopic) {
		return 0
	} else if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, pi := range info.Partitions {
		n += int(pi.Latest - pi.Earliest)
	}
	return n
}

// committedAll reports whether the group has committed every source
// partition up to its end: the processor's store has committed it all.
func committedAll(t testing.TB, l log.Log) (bool, string) {
	ctx := context.Background()
	info, err := l.Describe(ctx, "tx")
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Committed(ctx, "features.cards", "tx")
	if err != nil {
		return false, err.Error()
	}
	for _, pi := range info.Partitions {
		if got[pi.ID] != pi.Latest {
			return false, fmt.Sprintf("the group committed %v of ends %v", got, info.Partitions)
		}
	}
	return true, ""
}

// A kill is one crash of a processor child: at a point of a batch (after
// the feature-table append, after the changelog append, after the store's
// commit), or from outside ("") once the feature table has grown; with the
// state store deleted afterwards or not.
type kill struct {
	point  string
	delete bool
}

var kills = []kill{{"table", false}, {"changelog", false}, {"commit", false}, {"", false},
	{"commit", true}, {"table", true}, {"", false}, {"changelog", true}, {"", true}, {"table", false}}

// crashRun crashes processor children as kills says while they consume,
// then lets a last one finish, and compares the feature table and the
// states with the offline run's.
func crashRun(t *testing.T, spec string, reader log.Log) { crashRunEmit(t, spec, reader, EmitEvery) }

// crashRunEmit is crashRun with the feature table emitted as emit says:
// with EmitLatest, the table is checked as checkTableLatest says.
func crashRunEmit(t *testing.T, spec string, reader log.Log, emit Emit) {
	def := procDef(t)
	defs := writeDefFile(t)
	state := filepath.Join(t.TempDir(), "state")
	exp := offline(t, def, reader)
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	for i, k := range kills {
		prev := tableCount(t, reader)
		crash := ""
		if k.point != "" {
			crash = fmt.Sprintf("%s:%d", k.point, 1+r.IntN(20))
		}
		c := startChild(t, spec, defs, state, crash, emit)
		step := 1 + r.IntN(len(exp.table)/(2*len(kills)))
		waitFor(t, 2*time.Minute, func() (bool, string) {
			n := tableCount(t, reader)
			if k.point != "" {
				// A child that has committed everything never reaches its point.
				done, _ := committedAll(t, reader)
				return c.exited() || done, fmt.Sprintf("the child has not reached %s\n%s", crash, c.stderr)
			}
			return n >= prev+step, fmt.Sprintf("the feature table holds %d records; waiting for %d\n%s", n, prev+step, c.stderr)
		})
		c.kill(t)
		t.Logf("kill %d at %q: the feature table holds %d of %d records", i+1, crash, tableCount(t, reader), len(exp.table))
		if k.delete {
			if err := os.RemoveAll(state); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := startChild(t, spec, defs, state, "", emit)
	waitFor(t, 2*time.Minute, func() (bool, string) {
		ok, msg := committedAll(t, reader)
		return ok, msg + "\n" + c.stderr.String()
	})
	c.kill(t)
	got, err := readTable(t, reader, "features.cards.table")
	if err != nil {
		t.Fatal(err)
	}
	if emit == EmitLatest {
		checkTableLatest(t, exp, got)
	} else {
		checkTable(t, exp, got)
	}
	checkChangelog(t, def, reader, exp)
	checkStates(t, def, state, exp, readAll(t, reader, "tx"))
}

func TestProcessorExactlyOnceUnderKillsDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l := openDisk(t, dir)
	if err := l.CreateTopic(context.Background(), "tx", log.TopicConfig{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, l, makeEvents(3, 2000, 40, time.UnixMilli(1_700_000_000_000)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	reader, err := disk.Open(disk.Config{Dir: dir, ReadOnly: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	crashRun(t, "dir:"+dir, reader)
}

// The same kills with the feature table emitted once per poll
// (EmitLatest, the default): every value published is the key's value
// after the event it names, and every key's newest value is there.
func TestProcessorExactlyOnceUnderKillsDiskLatest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l := openDisk(t, dir)
	if err := l.CreateTopic(context.Background(), "tx", log.TopicConfig{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, l, makeEvents(5, 2000, 40, time.UnixMilli(1_700_000_000_000)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	reader, err := disk.Open(disk.Config{Dir: dir, ReadOnly: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	crashRunEmit(t, "dir:"+dir, reader, EmitLatest)
}

func TestProcessorExactlyOnceUnderKillsKafka(t *testing.T) {
	skipExternalKafka(t)
	addrs := kafkatest.Brokers(t)
	ctx := context.Background()
	l, err := kafka.New(ctx, kafkaConfig(addrs))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "tx", log.TopicConfig{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, l, makeEvents(4, 1500, 40, time.UnixMilli(1_700_000_000_000)))
	crashRun(t, "kafka:"+strings.Join(addrs, ","), l)
}

// Two processors in one group split the partitions; one is killed while
// both consume, and the other takes its partitions over from the
// changelog. The outputs are exactly an uninterrupted run's.
func TestProcessorScaleOutKafka(t *testing.T) {
	skipExternalKafka(t)
	addrs := kafkatest.Brokers(t)
	ctx := context.Background()
	l, err := kafka.New(ctx, kafkaConfig(addrs))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "tx", log.TopicConfig{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, l, makeEvents(6, 1500, 40, time.UnixMilli(1_700_000_000_000)))
	def, defs, spec := procDef(t), writeDefFile(t), "kafka:"+strings.Join(addrs, ",")
	exp := offline(t, def, l)
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a := startChild(t, spec, defs, dirA, "", EmitEvery)
	b := startChild(t, spec, defs, dirB, "", EmitEvery)
	waitFor(t, 2*time.Minute, func() (bool, string) {
		n := tableCount(t, l)
		return n >= len(exp.table)/3, fmt.Sprintf("the feature table holds %d of %d records\n%s\n%s", n, len(exp.table), a.stderr, b.stderr)
	})
	a.kill(t)
	t.Logf("a killed: the feature table holds %d of %d records", tableCount(t, l), len(exp.table))
	waitFor(t, 2*time.Minute, func() (bool, string) {
		ok, msg := committedAll(t, l)
		return ok, msg + "\n" + b.stderr.String()
	})
	b.kill(t)
	got, err := readTable(t, l, "features.cards.table")
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, exp, got)
	checkChangelog(t, def, l, exp)
	checkStates(t, def, dirB, exp, readAll(t, l, "tx"))
}
