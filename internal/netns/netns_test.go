package netns

import (
	"context"
	"io"
	"testing"
	"time"
)

// Two hosts talk over the bridge; a pulled cable cuts them apart and
// plugging it back in joins them again; Close leaves no namespace behind.
func TestHostsTalkAndLinksFail(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	n, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, err := n.AddHost("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.AddHost("b")
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.Listen("tcp", a.IP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	dial := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err := b.DialContext(ctx, "tcp", l.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = io.ReadAll(c)
		return err
	}
	if err := dial(30 * time.Second); err != nil {
		t.Fatalf("b cannot reach a over the bridge: %v", err)
	}
	if err := a.SetLink(false); err != nil {
		t.Fatal(err)
	}
	if err := dial(300 * time.Millisecond); err == nil {
		t.Fatal("b reached a while a's cable was out")
	}
	if err := a.SetLink(true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for dial(time.Second) != nil {
		if time.Now().After(deadline) {
			t.Fatal("b cannot reach a after its cable was plugged back in")
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DialContext(context.Background(), "tcp", l.Addr().String()); err == nil {
		t.Fatal("a's namespace outlived Close")
	}
}
