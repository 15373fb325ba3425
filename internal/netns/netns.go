// Package netns builds simulated hosts for tests: Linux network namespaces
// joined by one bridge, so a driver, its workers and a broker each run as
// if on a machine of their own, and a test can pull a host's cable
// (`ip link set … down`) and plug it back in.
//
// The hosts' addresses come from one private /24 (Subnet) that exists only
// inside the namespaces a Net creates: the bridge lives in a namespace of
// its own (the hub), not in the machine's, so nothing outside the test's
// namespaces is ever addressed and nothing inside them can reach the
// machine's own network. Close deletes every namespace it made (which
// removes their links and the bridge with them); New first deletes
// namespaces left behind by an earlier test process that died.
//
// It needs root and iproute2's `ip`; Available says why a test must skip.
package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Subnet is the private range the hosts get their addresses from. It is
// routed nowhere outside the namespaces a Net creates.
const Subnet = "10.213.7.0/24"

// prefix starts the name of every namespace this package creates; the
// creating process's PID follows, so stale ones can be found and removed.
const prefix = "flintns"

// Available returns nil when this process can build namespaces (root, with
// `ip` on the PATH), or an error saying why not.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("netns: simulated hosts need root (network namespaces, veth links and a bridge)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("netns: simulated hosts need iproute2's ip command (apt-get install iproute2)")
	}
	return nil
}

// Net is a set of simulated hosts on one bridge.
type Net struct {
	id    string // prefix + pid + sequence
	hub   string // the namespace holding the bridge
	mu    sync.Mutex
	hosts []*Host
}

// Host is one simulated machine: a network namespace with one interface,
// eth0, cabled to the bridge.
type Host struct {
	Name string // as given to AddHost
	NS   string // the namespace's name (ip netns exec NS …)
	IP   string // its address in Subnet
	net  *Net
	port string // the hub's end of its cable
}

var seq struct {
	sync.Mutex
	n int
}

// New creates the hub namespace and its bridge. Close removes everything.
func New() (*Net, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	removeStale()
	seq.Lock()
	seq.n++
	id := fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), seq.n)
	seq.Unlock()
	n := &Net{id: id, hub: id + "-hub"}
	if err := ip("netns", "add", n.hub); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"-n", n.hub, "link", "set", "lo", "up"},
		{"-n", n.hub, "link", "add", "br0", "type", "bridge"},
		{"-n", n.hub, "link", "set", "br0", "up"},
	} {
		if err := ip(args...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// AddHost creates a host named name (a short word: it is part of the
// namespace's name) with the next address of Subnet.
func (n *Net) AddHost(name string) (*Host, error) {
	n.mu.Lock()
	k := len(n.hosts) + 1
	n.mu.Unlock()
	h := &Host{Name: name, NS: n.id + "-" + name, IP: "10.213.7." + strconv.Itoa(10+k), net: n, port: "p" + strconv.Itoa(k)}
	if err := ip("netns", "add", h.NS); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()
	for _, args := range [][]string{
		{"link", "add", h.port, "netns", n.hub, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", n.hub, "link", "set", h.port, "master", "br0"},
		{"-n", n.hub, "link", "set", h.port, "up"},
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", h.NS, "addr", "add", h.IP + "/24", "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
	} {
		if err := ip(args...); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Close deletes the hosts' namespaces and the hub's, with their links.
// Processes still running in them lose their network; stop them first.
func (n *Net) Close() error {
	n.mu.Lock()
	hosts := n.hosts
	n.hosts = nil
	n.mu.Unlock()
	var errs []error
	for _, h := range hosts {
		errs = append(errs, ip("netns", "del", h.NS))
	}
	errs = append(errs, ip("netns", "del", n.hub))
	return errors.Join(errs...)
}

// Command returns a command that runs name with args inside h's namespace.
// `ip netns exec` execs the program, so the command's process is the
// program's own: signals sent to it reach the program.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// SetLink pulls h's cable out of the bridge (up false) or plugs it back.
// The host keeps its address; its packets go nowhere meanwhile.
func (h *Host) SetLink(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return ip("-n", h.net.hub, "link", "set", h.port, state)
}

// DialContext dials addr from inside h's namespace, so the test process
// itself can talk to its simulated hosts.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens on addr inside h's namespace.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := h.do(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// do runs fn on an OS thread switched into h's namespace. Sockets fn makes
// belong to that namespace and, once made, work from any thread.
func (h *Host) do(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread goes back to the process's namespace before it is
		// unlocked; if that fails it stays locked and exits with this
		// goroutine, so no other goroutine ever runs in h's namespace.
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("netns: %w", err)
			return
		}
		defer back.Close()
		target, err := os.Open("/run/netns/" + h.NS)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("netns: host %s: %w", h.Name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("netns: enter host %s: %w", h.Name, err)
			return
		}
		err = fn()
		if unix.Setns(int(back.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- err
	}()
	return <-ch
}

// ip runs `ip args…` and returns its error output as the error.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeStale deletes namespaces this package made in processes that are
// gone (a test binary killed before its cleanup ran).
func removeStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			ip("netns", "del", name)
		}
	}
}
