package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Event is one line of the demo's live log, sent to the page over
// Server-Sent Events (/events) and to Hub subscribers.
type Event struct {
	// Kind is one of:
	//   hello     sent first to each page: the demo's settings (Info)
	//   start     a request arrived
	//   wait      it waits for a free worker
	//   work      its work started
	//   progress  its work progressed (Progress)
	//   note      something worth telling about it (Detail), e.g. the
	//             upstream saw its request cancelled
	//   end       its handler returned (Outcome, and Phase, Reason and
	//             StoppedAfterMs when the client went away)
	//   stats     the demo's work now (Stats), every statsEvery on each
	//             stream, not through the Hub; hello has them too
	Kind string    `json:"kind"`
	ID   uint64    `json:"id,omitempty"` // the request's number, from 1
	Time time.Time `json:"time"`

	Method  string  `json:"method,omitempty"`
	Path    string  `json:"path,omitempty"` // path and query
	Work    string  `json:"work,omitempty"`
	Seconds float64 `json:"seconds,omitempty"` // how long the work should take, if it says
	Client  string  `json:"client,omitempty"`  // the client's address

	Progress float64 `json:"progress,omitempty"` // 0..1
	Detail   string  `json:"detail,omitempty"`

	// Outcome of an end event: completed, cancelled, wasted, rejected or failed.
	Outcome string `json:"outcome,omitempty"`
	Status  int    `json:"status,omitempty"`
	Err     string `json:"err,omitempty"` // what stopped the work
	// Gone tells that the client went away before the handler returned.
	Gone           bool    `json:"gone,omitempty"`
	Phase          string  `json:"phase,omitempty"`
	Reason         string  `json:"reason,omitempty"`
	StoppedAfterMs float64 `json:"stopped_after_ms,omitempty"` // handler's run after the disconnect
	ElapsedMs      float64 `json:"elapsed_ms,omitempty"`
	BytesIn        int64   `json:"bytes_in,omitempty"`

	Info  *Info  `json:"info,omitempty"`  // hello only
	Stats *Stats `json:"stats,omitempty"` // stats and hello
}

// Info describes the demo's settings to the page.
type Info struct {
	Seconds          float64  `json:"seconds"`
	Works            []string `json:"works"` // work kinds available
	Workers          int      `json:"workers"`
	IgnoreDisconnect bool     `json:"ignore_disconnect"`
	MaxUpload        int64    `json:"max_upload"`
	UploadRate       int64    `json:"upload_rate"`
	// AfterGoneBounds are the upper bounds, in seconds, of the buckets of
	// Stats.AfterGone.
	AfterGoneBounds []float64 `json:"after_gone_bounds"`
}

// statsEvery is how often each event stream gets the demo's Stats: often
// enough for the page's charts to move with a burst of requests.
const statsEvery = 500 * time.Millisecond

// Hub fans events out to subscribers. A subscriber that does not keep up
// loses events rather than slowing the requests down.
type Hub struct {
	mu     sync.Mutex
	subs   map[chan Event]struct{}
	closed bool
}

// NewHub returns an empty Hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[chan Event]struct{})}
}

// Publish sends e to every subscriber that has room for it.
func (h *Hub) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Subscribe returns a channel of the events published from now on, and
// a function that ends the subscription. The channel is closed when the
// subscription ends or the Hub closes.
func (h *Hub) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 256)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// Close ends every subscription, so that event streams end and a server
// shutdown does not wait for them.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// serveEvents streams the hub's events as Server-Sent Events, and the
// demo's Stats every statsEvery, until the client leaves (hangup cancels the
// context the moment the tab closes) or the hub closes.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	events, stop := s.hub.Subscribe()
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	send := func(e Event) bool {
		b, err := json.Marshal(e)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	info, st := s.info(), s.Stats()
	if !send(Event{Kind: "hello", Time: time.Now(), Info: &info, Stats: &st}) {
		return
	}
	// The stats are sent every statsEvery, so the stream never idles long
	// enough to need a keep-alive comment.
	tick := time.NewTicker(statsEvery)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-events:
			if !ok || !send(e) {
				return
			}
		case <-tick.C:
			st := s.Stats()
			if !send(Event{Kind: "stats", Time: time.Now(), Stats: &st}) {
				return
			}
		}
	}
}
