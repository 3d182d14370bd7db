package fasthttphangup

import (
	"log/slog"
	"net"
	"runtime"
	"syscall"
)

// Listener returns ln wrapped so that the Guard reaches the socket of every
// connection it accepts, even where fasthttp hides it. Serve with it when
// Server.MaxConnsPerIP is set:
//
//	g := fasthttphangup.Install(s)
//	ln, err := net.Listen("tcp", ":8080")
//	...
//	s.Serve(g.Listener(ln)) // instead of s.ListenAndServe(":8080")
//
// With MaxConnsPerIP, fasthttp wraps each connection in a type of its own
// (perIPConn) that embeds the net.Conn and exposes neither SyscallConn nor
// NetConn, and hands only the wrapper to ConnState and RequestCtx.Conn: the
// watcher cannot reach the socket (the core's rawConn unwraps NetConn, which
// fasthttp's wrapper lacks), and neither reflection nor unsafe on fasthttp's
// unexported type is worth its fragility. What the wrapper does pass on is
// RemoteAddr, from the connection it embeds; the connections the listener
// accepts keep their address, and the Guard finds the socket by it. Served
// without Listener, a Guard whose server has MaxConnsPerIP logs a warning,
// once, at the first connection it cannot watch.
//
// Without MaxConnsPerIP, Listener hands on ln's connections as they are.
func (g *Guard) Listener(ln net.Listener) net.Listener {
	g.listening.Store(true)
	return &listener{Listener: ln, g: g}
}

type listener struct {
	net.Listener
	g *Guard
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// fasthttp wraps, right after Accept, the TCP connections of a server
	// with MaxConnsPerIP; it hands on the others as they are, and so do we.
	s := l.g.srv.Load()
	if _, tcp := nc.RemoteAddr().(*net.TCPAddr); s == nil || s.MaxConnsPerIP <= 0 || !tcp {
		return nc, nil
	}
	c := &socketConn{Conn: nc, g: l.g, raddr: nc.RemoteAddr()}
	l.g.sockets.Store(c.raddr, nc)
	return c, nil
}

// socketConn is a connection the Guard's listener accepted, registered in
// g.sockets under its remote address, an interface holding a pointer that
// no other live connection shares. RemoteAddr returns that very value, so
// that the Guard finds the socket through any wrapper that passes
// RemoteAddr on.
type socketConn struct {
	net.Conn
	g     *Guard
	raddr net.Addr
}

func (c *socketConn) RemoteAddr() net.Addr { return c.raddr }

// Close unregisters c, also when fasthttp rejects it (over MaxConnsPerIP)
// before any request or ConnState.
func (c *socketConn) Close() error {
	c.g.sockets.Delete(c.raddr)
	return c.Conn.Close()
}

// socket returns the connection to watch for nc: the socket the Guard's
// listener registered under nc's remote address, else nc itself.
func (g *Guard) socket(nc net.Conn) net.Conn {
	if !g.listening.Load() {
		return nc
	}
	if raddr := nc.RemoteAddr(); raddr != nil {
		if v, ok := g.sockets.Load(raddr); ok {
			return v.(net.Conn)
		}
	}
	return nc
}

// unwatchable warns, once per Guard, that nc cannot be watched because its
// server's MaxConnsPerIP hid its socket. Connections that have no socket
// (fasthttputil's in-memory ones, app.Test) and systems without the watcher
// are the documented fallback and pass in silence.
func (g *Guard) unwatchable(nc net.Conn) {
	s := g.srv.Load()
	if s == nil || s.MaxConnsPerIP <= 0 || runtime.GOOS != "linux" {
		return
	}
	if _, ok := nc.(syscall.Conn); ok {
		return
	}
	if _, ok := nc.RemoteAddr().(*net.TCPAddr); !ok {
		return
	}
	g.warnOnce.Do(func() {
		slog.Warn("fasthttphangup: connections are not watched, clients that leave are not detected: " +
			"Server.MaxConnsPerIP wraps each connection in a type that hides its socket; " +
			"serve with s.Serve(g.Listener(ln)) instead of s.ListenAndServe(addr) (Fiber: app.Listener(g.Listener(ln)))")
	})
}
