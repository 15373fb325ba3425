package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unitKey is one Key=Value line of a unit file.
type unitKey struct {
	section, key, value string
	line                int
}

type unitFile struct {
	path     string
	name     string // base name, e.g. flint-worker@.service
	keys     []unitKey
	sections []string
}

func (u *unitFile) values(section, key string) []string {
	var vs []string
	for _, k := range u.keys {
		if k.section == section && k.key == key {
			vs = append(vs, k.value)
		}
	}
	return vs
}

func (u *unitFile) value(section, key string) string {
	vs := u.values(section, key)
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// knownKeys are the keys these units may use, by section: a typo in a key is
// silently ignored by systemd (a warning in the journal), so the Go-level
// check below rejects any key not listed. Add a real systemd directive here
// when a unit starts using it.
var knownKeys = map[string][]string{
	"Unit": {"Description", "Documentation", "Wants", "Requires", "Requisite", "BindsTo", "PartOf", "After", "Before",
		"Conflicts", "ConditionPathExists", "AssertPathExists", "StartLimitIntervalSec", "StartLimitBurst"},
	"Service": {"Type", "User", "Group", "DynamicUser", "SupplementaryGroups", "Environment", "EnvironmentFile",
		"ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost", "KillSignal", "KillMode",
		"TimeoutStartSec", "TimeoutStopSec", "TimeoutSec", "Restart", "RestartSec", "SuccessExitStatus",
		"StateDirectory", "CacheDirectory", "LogsDirectory", "RuntimeDirectory", "ConfigurationDirectory",
		"WorkingDirectory", "ReadWritePaths", "ReadOnlyPaths", "LoadCredential", "SetCredential",
		"LimitNOFILE", "LimitNPROC", "MemoryMax", "MemoryHigh", "CPUQuota", "TasksMax",
		"NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "ProtectSystem", "ProtectHome",
		"PrivateTmp", "PrivateDevices", "PrivateUsers", "ProtectKernelTunables", "ProtectKernelModules",
		"ProtectKernelLogs", "ProtectControlGroups", "ProtectClock", "ProtectHostname", "ProtectProc", "ProcSubset",
		"RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality",
		"MemoryDenyWriteExecute", "SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber",
		"UMask", "RemoveIPC", "KeyringMode", "DevicePolicy"},
	"Install": {"WantedBy", "RequiredBy", "Alias", "Also", "DefaultInstance"},
}

// listKeys may appear more than once in a section; any other key given twice
// is a mistake (systemd keeps the last silently, or appends for some).
var listKeys = []string{"Documentation", "Wants", "Requires", "After", "Before", "Environment", "EnvironmentFile",
	"ExecStartPre", "ExecStartPost", "ExecStop", "ExecStopPost", "ReadWritePaths", "ReadOnlyPaths", "LoadCredential",
	"SetCredential", "WantedBy", "RequiredBy", "Alias", "Also", "SystemCallFilter", "RestrictAddressFamilies",
	"CapabilityBoundingSet", "AmbientCapabilities", "SupplementaryGroups", "ConditionPathExists", "AssertPathExists"}

var boolKeys = []string{"NoNewPrivileges", "PrivateTmp", "PrivateDevices", "PrivateUsers", "ProtectKernelTunables",
	"ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock", "ProtectHostname",
	"RestrictRealtime", "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute", "RemoveIPC", "DynamicUser"}

var secKeys = []string{"TimeoutStartSec", "TimeoutStopSec", "TimeoutSec", "RestartSec", "StartLimitIntervalSec"}

// parseUnit reads a unit file the way systemd does: [Section] headers,
// Key=Value lines, # and ; comments, and lines continued with a trailing
// backslash. It reports lines it cannot read.
func parseUnit(path string) (*unitFile, []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{err}
	}
	u := &unitFile{path: path, name: filepath.Base(path)}
	var errs []error
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		start := n
		for strings.HasSuffix(line, `\`) && sc.Scan() {
			n++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(sc.Text())
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				errs = append(errs, fmt.Errorf("%s:%d: malformed section header %q", path, start, line))
				continue
			}
			section = line[1 : len(line)-1]
			if _, ok := knownKeys[section]; !ok {
				errs = append(errs, fmt.Errorf("%s:%d: unknown section [%s]", path, start, section))
			}
			if slices.Contains(u.sections, section) {
				errs = append(errs, fmt.Errorf("%s:%d: section [%s] given twice", path, start, section))
			}
			u.sections = append(u.sections, section)
		default:
			key, value, ok := strings.Cut(line, "=")
			key, value = strings.TrimSpace(key), strings.TrimSpace(value)
			switch {
			case !ok || key == "":
				errs = append(errs, fmt.Errorf("%s:%d: not Key=Value: %q", path, start, line))
			case section == "":
				errs = append(errs, fmt.Errorf("%s:%d: %s= before any [Section]", path, start, key))
			default:
				u.keys = append(u.keys, unitKey{section, key, value, start})
			}
		}
	}
	return u, errs
}

func unitFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("systemd/*.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"systemd/flint-serve.service", "systemd/flint-worker@.service"} {
		if !slices.Contains(files, want) {
			t.Errorf("%s is missing", want)
		}
	}
	return files
}

var (
	unitVarRef  = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)
	timeSpan    = regexp.MustCompile(`^(infinity|(\d+(\.\d+)?\s*(us|ms|s|sec|m|min|h|hr|d)?\s*)+)$`)
	restartVals = []string{"no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"}
	typeVals    = []string{"simple", "exec", "forking", "oneshot", "dbus", "notify", "notify-reload", "idle"}
)

func isBool(v string) bool {
	return slices.Contains([]string{"yes", "no", "true", "false", "1", "0", "on", "off"}, strings.ToLower(v))
}

// TestUnitFilesParse is the check that always runs, systemd or not: every
// line parses, every section and key is a known one, values of the common
// kinds are well-formed, and what the units rely on holds.
func TestUnitFilesParse(t *testing.T) {
	for _, path := range unitFiles(t) {
		u, errs := parseUnit(path)
		for _, err := range errs {
			t.Error(err)
		}
		if u == nil {
			continue
		}
		counts := map[string]int{}
		for _, k := range u.keys {
			where := fmt.Sprintf("%s:%d: [%s] %s", path, k.line, k.section, k.key)
			if known, ok := knownKeys[k.section]; ok && !slices.Contains(known, k.key) {
				t.Errorf("%s: unknown key (a typo? systemd would ignore it; if it is a real directive, add it to knownKeys)", where)
			}
			counts[k.section+"."+k.key]++
			if counts[k.section+"."+k.key] == 2 && !slices.Contains(listKeys, k.key) {
				t.Errorf("%s: given more than once", where)
			}
			switch {
			case slices.Contains(boolKeys, k.key) && !isBool(k.value):
				t.Errorf("%s: %q is not a boolean", where, k.value)
			case slices.Contains(secKeys, k.key) && !timeSpan.MatchString(k.value):
				t.Errorf("%s: %q is not a time span", where, k.value)
			case k.key == "Restart" && !slices.Contains(restartVals, k.value):
				t.Errorf("%s: %q is not one of %v", where, k.value, restartVals)
			case k.key == "Type" && !slices.Contains(typeVals, k.value):
				t.Errorf("%s: %q is not one of %v", where, k.value, typeVals)
			case k.key == "EnvironmentFile" && !filepath.IsAbs(strings.TrimPrefix(k.value, "-")):
				t.Errorf("%s: %q is not an absolute path", where, k.value)
			case k.key == "Environment":
				name, _, ok := strings.Cut(strings.Trim(k.value, `"`), "=")
				if !ok || name == "" {
					t.Errorf("%s: %q is not NAME=VALUE", where, k.value)
				}
			case (k.key == "User" || k.key == "Group") && (k.value == "root" || k.value == "0"):
				t.Errorf("%s: runs as root", where)
			}
		}
		for _, req := range [][2]string{{"Unit", "Description"}, {"Service", "ExecStart"}, {"Service", "User"}, {"Install", "WantedBy"}} {
			if u.value(req[0], req[1]) == "" {
				t.Errorf("%s: no [%s] %s=", path, req[0], req[1])
			}
		}
		exec := strings.Fields(u.value("Service", "ExecStart"))
		if len(exec) < 2 {
			t.Errorf("%s: ExecStart %q has no flint subcommand", path, u.value("Service", "ExecStart"))
			continue
		}
		if !filepath.IsAbs(strings.TrimLeft(exec[0], "-@:+!")) {
			t.Errorf("%s: ExecStart binary %q is not an absolute path", path, exec[0])
		}
		// The subcommand matches the unit's name: flint-serve runs flint serve.
		if want := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(u.name, "flint-"), ".service"), "@"); exec[1] != want {
			t.Errorf("%s: ExecStart runs flint %s, want flint %s", path, exec[1], want)
		}
		template := strings.Contains(u.name, "@.")
		usesInstance := strings.Contains(u.value("Service", "ExecStart"), "%i") || strings.Contains(u.value("Service", "ExecStart"), "%I")
		if template != usesInstance {
			t.Errorf("%s: template unit %v, but ExecStart uses the instance (%%i) %v", path, template, usesInstance)
		}
		// Every ${VAR} in ExecStart has a default in Environment=, so the
		// unit starts without the optional EnvironmentFile.
		env := unitEnv(u)
		for _, m := range unitVarRef.FindAllStringSubmatch(u.value("Service", "ExecStart"), -1) {
			name := m[1] + m[2]
			if _, ok := env[name]; !ok {
				t.Errorf("%s: ExecStart uses $%s, which has no Environment= default", path, name)
			}
		}
		// flint serve drains for --drain-timeout on SIGTERM: systemd must
		// wait longer than that before SIGKILL.
		if exec[1] == "serve" {
			drain := 30 * time.Second // flint serve's default
			if v := flagValue(exec, "--drain-timeout"); v != "" {
				d, err := time.ParseDuration(v)
				if err != nil {
					t.Errorf("%s: --drain-timeout %q: %v", path, v, err)
				}
				drain = d
			}
			stop, err := strconv.Atoi(strings.TrimSuffix(u.value("Service", "TimeoutStopSec"), "s"))
			if err != nil || time.Duration(stop)*time.Second <= drain {
				t.Errorf("%s: TimeoutStopSec=%s must be a number of seconds above the drain timeout %s", path, u.value("Service", "TimeoutStopSec"), drain)
			}
		}
	}
}

// unitEnv is the unit's Environment= defaults.
func unitEnv(u *unitFile) map[string]string {
	env := map[string]string{}
	for _, v := range u.values("Service", "Environment") {
		for _, a := range strings.Fields(v) {
			if name, val, ok := strings.Cut(strings.Trim(a, `"`), "="); ok {
				env[name] = val
			}
		}
	}
	return env
}

func TestUnitParserRejects(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.service")
	if err := os.WriteFile(bad, []byte("Description=x\n[Unit]\nDescription\n[Servce]\nX=1\n[Unit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs := parseUnit(bad)
	if len(errs) != 4 {
		t.Errorf("parseUnit found %d problems in bad.service, want 4: %v", len(errs), errs)
	}
}

// TestSystemdAnalyzeVerify runs `systemd-analyze verify` on every unit. It
// skips only when systemd-analyze is not installed (Debian: apt-get install
// systemd); TestUnitFilesParse checks the units regardless.
//
// verify insists that ExecStart's binary exists and is executable, so the
// units are checked from a copy whose /usr/local/bin/flint is replaced by a
// stub in a temporary directory; a template unit is checked as the instance
// flint-worker@7101.service. verify exits 0 on warnings (an unknown key, a
// bad value), so any output at all fails the test.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian: apt-get install systemd); TestUnitFilesParse still checks the units")
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "flint")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, path := range unitFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte("/usr/local/bin/flint ")) {
			t.Errorf("%s: ExecStart is not /usr/local/bin/flint (the path deploy/README.md installs to)", path)
		}
		name := strings.Replace(filepath.Base(path), "@.", "@7101.", 1)
		dst := filepath.Join(dir, name)
		if err := os.WriteFile(dst, bytes.ReplaceAll(data, []byte("/usr/local/bin/flint "), []byte(stub+" ")), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, dst)
	}
	verify := func(units ...string) (string, error) {
		cmd := exec.Command(sa, append([]string{"verify", "--man=no"}, units...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	out, err := verify(units...)
	if err != nil || out != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check has teeth: a unit with a misspelt key must produce output.
	broken := filepath.Join(dir, "flint-broken.service")
	data, _ := os.ReadFile(units[0])
	if err := os.WriteFile(broken, bytes.Replace(data, []byte("Restart="), []byte("Restrat="), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(broken); err == nil && out == "" {
		t.Error("systemd-analyze verify said nothing about a unit with a misspelt key (Restrat=)")
	}
	if v, err := exec.Command(sa, "--version").Output(); err == nil {
		t.Logf("verified with %s", strings.SplitN(string(v), "\n", 2)[0])
	}
}
