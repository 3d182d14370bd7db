// Package reach checks the call paths hangupvet follows from a handler. // want package:`wiredCalls: example\.com/reach\.saver\.save from reach\.viaInterface}`
package reach

import (
	"context"
	"database/sql"
	"net/http"
	"sort"
	"time"
)

type server struct {
	db *sql.DB
}

// A finding two calls down names the whole path.
func (s *server) upload(w http.ResponseWriter, r *http.Request) {
	s.save(r)
}

func (s *server) save(r *http.Request) {
	s.insert()
}

func (s *server) insert() {
	s.db.Exec("INSERT 1") // want `^s\.db\.Exec has no context: this statement keeps running after the client leaves \(handler server\.upload → server\.save → server\.insert\); pass the request's context down and use ExecContext$`
}

// Reached from two handlers, a finding is reported once, with the path
// from the first.
func first(w http.ResponseWriter, r *http.Request)  { shared() }
func second(w http.ResponseWriter, r *http.Request) { shared() }

func shared() {
	time.Sleep(time.Millisecond) // want `\(handler first → shared\)`
}

// Literals run on behalf of the function they are written in.
func spawn(w http.ResponseWriter, r *http.Request) {
	go func() {
		w.Write(nil)
		time.Sleep(time.Millisecond) // want `\(handler spawn → go func\); select on r\.Context\(\)\.Done\(\)`
	}()
	defer func() {
		later()
	}()
	sort.Slice([]int{}, func(i, j int) bool {
		time.Sleep(time.Millisecond) // want `\(handler spawn → func literal\)`
		return false
	})
}

func later() {
	_ = context.TODO() // want `\(handler spawn → defer func → later\)`
}

// A goroutine is the request's work when it is handed the request's
// context, request or ResponseWriter, or a literal uses one of them. One
// handed none of them was detached by its author.
func goroutines(w http.ResponseWriter, r *http.Request) {
	go bound(r.Context())
	go func(ctx context.Context) {
		time.Sleep(time.Millisecond) // want `\(handler goroutines → go func\); select on ctx\.Done\(\)`
	}(r.Context())
	go forever()
	go func() {
		forever()
		time.Sleep(time.Millisecond)
	}()
	s := &server{}
	go s.loop()
}

func bound(ctx context.Context) {
	time.Sleep(time.Millisecond) // want `\(handler goroutines → bound\)`
}

func forever() {
	for {
		time.Sleep(time.Second)
	}
}

func (s *server) loop() { forever() }

// Functions passed as values run too.
func values(w http.ResponseWriter, r *http.Request) {
	run(tick)
	s := &server{}
	run(s.tock)
}

func run(f func()) { f() }

func tick() {
	time.Sleep(time.Millisecond) // want `\(handler values → tick\)`
}

func (s *server) tock() {
	time.Sleep(time.Millisecond) // want `\(handler values → server\.tock\)`
}

// Generic functions are followed through their instances.
func generic(w http.ResponseWriter, r *http.Request) {
	wait[int](1)
}

func wait[T any](v T) {
	time.Sleep(time.Millisecond) // want `\(handler generic → wait\)`
}

// Recursion ends.
func recursive(w http.ResponseWriter, r *http.Request) { loop(3) }

func loop(n int) {
	if n > 0 {
		loop(n - 1)
	}
}

// Context passed along correctly: nothing to report.
func good(w http.ResponseWriter, r *http.Request) {
	s := &server{}
	s.load(r.Context())
}

func (s *server) load(ctx context.Context) {
	s.db.ExecContext(ctx, "SELECT 1")
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Not reached from any handler: nothing to report.
func startup() {
	time.Sleep(time.Second)
	_ = context.Background()
	s := &server{}
	s.insert()
}

// Calls through an interface reach the package's implementations
// (example.com/dynamic has more).
type saver interface{ save(r *http.Request) }

func viaInterface(w http.ResponseWriter, r *http.Request) {
	var sv saver = sleepySaver{}
	sv.save(r)
}

type sleepySaver struct{}

func (sleepySaver) save(r *http.Request) { time.Sleep(time.Second) } // want `\(handler viaInterface → sleepySaver\.save\)`
