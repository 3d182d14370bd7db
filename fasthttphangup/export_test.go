package fasthttphangup

// Sockets counts the connections that g's Listener registered and that are
// not closed yet.
func (g *Guard) Sockets() int {
	n := 0
	g.sockets.Range(func(any, any) bool { n++; return true })
	return n
}
