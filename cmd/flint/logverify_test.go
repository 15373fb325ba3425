package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// batchStarts returns the byte positions of the batches of a segment file
// of the embedded log (each starts with its length after the length field).
func batchStarts(t *testing.T, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pos []int64
	for off := 0; off+4 <= len(b); off += 4 + int(binary.LittleEndian.Uint32(b[off:])) {
		pos = append(pos, int64(off))
	}
	return pos
}

func flipFileByte(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

func mustProc(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := flintProc(t, stdin, args...)
	if code != 0 {
		t.Fatalf("flint %s: exit %d\nstderr: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// TestLogVerifyAndRepair damages the middle of a partition's only segment
// and runs verify and repair through the binary: verify names the file and
// byte and exits non-zero, the other topic stays usable, repair without
// --yes changes nothing, and repair --yes drops exactly the offsets it said.
func TestLogVerifyAndRepair(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	logFlag := "--log=dir:" + dir
	mustProc(t, "", logFlag, "log", "create", "t", "--partitions", "1")
	mustProc(t, "a\tb\n", logFlag, "log", "produce", "other")
	var in strings.Builder
	for i := range 500 {
		fmt.Fprintf(&in, "v%d\n", i)
	}
	mustProc(t, in.String(), logFlag, "log", "produce", "t", "--batch", "5")
	seg := filepath.Join(dir, "t", "0", "00000000000000000000.seg")
	pos := batchStarts(t, seg)
	if len(pos) != 100 {
		t.Fatalf("%d batches, want 100", len(pos))
	}
	flipFileByte(t, seg, pos[5]+45)
	size, _ := os.Stat(seg)

	out, errOut, code := flintProc(t, "", logFlag, "log", "verify")
	if code == 0 {
		t.Fatalf("verify of a damaged log exited 0:\n%s", out)
	}
	mustContain(t, "verify's output", out, "t/0", "DAMAGED", seg, fmt.Sprintf("at byte %d", pos[5]), "offsets 25 to 499 (475 records)")
	mustContain(t, "verify's error", errOut, "1 of", "damaged")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "other/0 ") && !strings.HasSuffix(line, " ok") {
			t.Fatalf("verify reports the intact partition as %q", line)
		}
	}

	// The other topic works; the damaged partition says where its damage is.
	if got := mustProc(t, "", logFlag, "log", "consume", "other", "--format", "kv"); got != "a\tb\n" {
		t.Fatalf("consume other = %q", got)
	}
	_, errOut, code = flintProc(t, "", logFlag, "log", "consume", "t")
	if code == 0 || !strings.Contains(errOut, seg) || !strings.Contains(errOut, fmt.Sprintf("at byte %d", pos[5])) || !strings.Contains(errOut, "flint log repair") {
		t.Fatalf("consume of the damaged partition: exit %d, stderr %q", code, errOut)
	}
	// Open trusts what lies before the recovery points, so only a read
	// finds the damage there. Without them, Open finds it and topics says so.
	if err := os.Remove(filepath.Join(dir, ".recovery-points")); err != nil {
		t.Fatal(err)
	}
	topics := mustProc(t, "", logFlag, "log", "topics")
	mustContain(t, "topics", topics, "other", "damaged: "+seg)

	out, _, code = flintProc(t, "", logFlag, "log", "repair")
	if code == 0 {
		t.Fatalf("repair without --yes exited 0:\n%s", out)
	}
	mustContain(t, "repair's plan", out, "would drop offsets 25 to 499 (475 records)", fmt.Sprintf("truncate %s at byte %d", seg, pos[5]))
	if now, _ := os.Stat(seg); now.Size() != size.Size() {
		t.Fatal("repair without --yes changed the segment")
	}

	out = mustProc(t, "", logFlag, "log", "repair", "--yes")
	mustContain(t, "repair's report", out, "dropped offsets 25 to 499 (475 records)", "repaired 1 partitions")
	mustProc(t, "", logFlag, "log", "verify")
	got := mustProc(t, "", logFlag, "log", "consume", "t")
	if n := strings.Count(got, "\n"); n != 25 {
		t.Fatalf("consume after repair printed %d records, want 25", n)
	}
}

func mustContain(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s does not mention %q:\n%s", what, p, s)
		}
	}
}

func TestLogVerifyNeedsTheEmbeddedLog(t *testing.T) {
	for _, cmd := range []string{"verify", "repair"} {
		_, errOut, code := flintProc(t, "", "--log", "kafka:localhost:1", "log", cmd)
		if code == 0 || !strings.Contains(errOut, "embedded log (--log dir:PATH) only") {
			t.Errorf("flint log %s on Kafka: exit %d, stderr %q", cmd, code, errOut)
		}
	}
	missing := filepath.Join(t.TempDir(), "nope")
	for _, cmd := range []string{"verify", "repair"} {
		_, errOut, code := flintProc(t, "", "--log", "dir:"+missing, "log", cmd)
		if code == 0 || !strings.Contains(errOut, "does not exist") {
			t.Errorf("flint log %s on a missing directory: exit %d, stderr %q", cmd, code, errOut)
		}
	}
}
