// Package apis has a call to every row of hangupvet's table of
// context-less APIs (TestAPITable checks that none is missing), and the
// same calls made with the request's context, which must stay silent.
package apis

import (
	"context"
	"crypto/tls"
	"database/sql"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"time"
)

func sqlRows(w http.ResponseWriter, r *http.Request) {
	var db *sql.DB
	db.Query("SELECT 1")    // want `^db\.Query has no context: this query keeps running after the client leaves \(handler sqlRows\); use QueryContext\(r\.Context\(\), …\)$`
	db.QueryRow("SELECT 1") // want `^db\.QueryRow has no context: this query keeps running`
	db.Exec("SELECT 1")     // want `^db\.Exec has no context: this statement keeps running`
	db.Prepare("SELECT 1")  // want `^db\.Prepare has no context: preparing the statement goes on`
	db.Begin()              // want `^db\.Begin has no context: .*; use BeginTx\(r\.Context\(\), nil\)$`
	db.Ping()               // want `^db\.Ping has no context: the ping keeps waiting`
}

func httpRows(w http.ResponseWriter, r *http.Request) {
	http.NewRequest("GET", "/", nil) // want `^http\.NewRequest has no context: .*; use http\.NewRequestWithContext\(r\.Context\(\), …\)$`
	http.Get("/")                    // want `^http\.Get has no context: .*; build it with http\.NewRequestWithContext\(r\.Context\(\), …\) and send it with Client\.Do$`
	http.Head("/")                   // want `^http\.Head has no context`
	http.Post("/", "", nil)          // want `^http\.Post has no context`
	http.PostForm("/", nil)          // want `^http\.PostForm has no context`
	c := http.DefaultClient
	c.Get("/")           // want `^c\.Get has no context`
	c.Head("/")          // want `^c\.Head has no context`
	c.Post("/", "", nil) // want `^c\.Post has no context`
	c.PostForm("/", nil) // want `^c\.PostForm has no context`
}

func netRows(w http.ResponseWriter, r *http.Request) {
	net.Dial("tcp", "db:5432")                            // want `^net\.Dial has no context: the dial keeps waiting after the client leaves \(handler netRows\); use net\.Dialer\.DialContext\(r\.Context\(\), …\)$`
	net.DialTimeout("tcp", "db:5432", time.Second)        // want `^net\.DialTimeout has no context: .*; use \(&net\.Dialer\{Timeout: …\}\)\.DialContext\(r\.Context\(\), …\)$`
	tls.Dial("tcp", "db:5432", nil)                       // want `^tls\.Dial has no context: .*; use \(&tls\.Dialer\{Config: …\}\)\.DialContext\(r\.Context\(\), …\)$`
	tls.DialWithDialer(&net.Dialer{}, "tcp", "db:1", nil) // want `^tls\.DialWithDialer has no context`
	net.LookupHost("example.com")                         // want `^net\.LookupHost has no context: the lookup keeps waiting .*; use net\.DefaultResolver\.LookupHost\(r\.Context\(\), …\)$`
	net.LookupIP("example.com")                           // want `^net\.LookupIP has no context: .*; use net\.DefaultResolver\.LookupIP\(r\.Context\(\), "ip", …\)$`
	net.LookupAddr("127.0.0.1")                           // want `^net\.LookupAddr has no context`
	net.LookupCNAME("example.com")                        // want `^net\.LookupCNAME has no context`
	net.LookupMX("example.com")                           // want `^net\.LookupMX has no context`
	net.LookupNS("example.com")                           // want `^net\.LookupNS has no context`
	net.LookupPort("tcp", "http")                         // want `^net\.LookupPort has no context`
	net.LookupSRV("xmpp", "tcp", "example.com")           // want `^net\.LookupSRV has no context`
	net.LookupTXT("example.com")                          // want `^net\.LookupTXT has no context`
	exec.Command("pg_dump", "--version")                  // want `^exec\.Command has no context: the command keeps running after the client leaves \(handler netRows\); use exec\.CommandContext\(r\.Context\(\), …\)$`
	time.Sleep(time.Second)                               // want `^time\.Sleep ignores the request's context: .*; select on r\.Context\(\)\.Done\(\) and a timer$`
}

// Without a context in scope the advice names the API, with no fix.
func noContext(w http.ResponseWriter, r *http.Request) { dial() }

func dial() {
	net.Dial("tcp", "db:5432") // want `\(handler noContext → dial\); pass the request's context down and use net\.Dialer\.DialContext$`
}

// The same work with the request's context: nothing to report.
func withContext(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	(&net.Dialer{}).DialContext(ctx, "tcp", "db:5432")
	(&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", "db:5432")
	(&tls.Dialer{}).DialContext(ctx, "tcp", "db:5432")
	net.DefaultResolver.LookupHost(ctx, "example.com")
	net.DefaultResolver.LookupIP(ctx, "ip", "example.com")
	exec.CommandContext(ctx, "pg_dump", "--version")
	req, _ := http.NewRequestWithContext(ctx, "GET", "/", nil)
	http.DefaultClient.Do(req)
	var db *sql.DB
	db.QueryContext(ctx, "SELECT 1")
	tx, _ := db.BeginTx(ctx, nil)
	tx.Rollback()
}

// Context variants that cancel nothing are not asked for: slog's only
// carry values, and signal.Notify registers a channel and returns.
func excepted(w http.ResponseWriter, r *http.Request) {
	slog.Info("request")
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	signal.Stop(ch)
	_ = context.Canceled
}
