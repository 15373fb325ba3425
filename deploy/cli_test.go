package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestArgsMatchFlintCLI builds flint from the main module (the directory
// above) and asks it to parse every command line the manifests and units
// give it — `flint ARGS... --help` fails on an unknown flag, a bad flag
// value or an unknown subcommand — so a renamed flag or command breaks this
// test, not a deployment. Skipped with -short, or when the main module is
// not beside this one.
func TestArgsMatchFlintCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building flint")
	}
	if _, err := os.Stat(filepath.Join("..", "cmd", "flint", "main.go")); err != nil {
		t.Skip("the main module is not at ..: nothing to check the command lines against")
	}
	// go test puts its own GOROOT/bin first on the PATH of the tests.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build flint with")
	}
	bin := filepath.Join(t.TempDir(), "flint")
	build := exec.Command(goBin, "build", "-o", bin, "./cmd/flint")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building flint: %v\n%s", err, out)
	}

	type cmdline struct {
		where string
		args  []string
	}
	var lines []cmdline
	for _, w := range workloads(loadManifests(t)) {
		for _, c := range w.template.Spec.Containers {
			args := slices.Concat(c.Command, c.Args)
			for i, a := range args {
				// $(VAR) is expanded by Kubernetes; any value will do here.
				args[i] = varRef.ReplaceAllString(a, "example:7077")
			}
			lines = append(lines, cmdline{w.where + " container " + c.Name, args})
		}
	}
	for _, path := range unitFiles(t) {
		u, _ := parseUnit(path)
		if u == nil {
			continue
		}
		env := unitEnv(u)
		fields := strings.Fields(u.value("Service", "ExecStart"))
		if len(fields) < 2 {
			continue
		}
		var args []string
		for _, f := range fields[1:] {
			f = strings.NewReplacer("%i", "7101", "%I", "7101", "%H", "host.example").Replace(f)
			f = unitVarRef.ReplaceAllStringFunc(f, func(m string) string {
				return env[strings.Trim(m, "${}")]
			})
			args = append(args, f)
		}
		lines = append(lines, cmdline{path, args})
	}

	for _, l := range lines {
		t.Run(strings.ReplaceAll(l.where, "/", "_"), func(t *testing.T) {
			cmd := exec.Command(bin, append(l.args, "--help")...)
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err == nil {
				return
			}
			t.Errorf("%s: flint %s: %v\n%s", l.where, strings.Join(l.args, " "), err, out)
		})
	}
}
