// Package app wires stores into the login handlers: the conversion of a
// *store.DB to a login.Storer is where the handlers meet its Save and
// Find, so it is reported there, once.
package app

import (
	"example.com/wiring/login"
	"example.com/wiring/store"
)

func routes(db *store.DB) {
	login.New(db) // want `^\*store\.DB is wired here as login\.Storer, and store\.DB\.Save breaks the request's cancellation: s\.db\.Exec has no context in store\.DB\.Save \(handler login\.Resource\.signup\); pass the request's context to it and have it use the context$` `store\.DB\.Find breaks the request's cancellation: context\.Background\(\) in store\.DB\.Find \(handler login\.Resource\.lookup → login\.Resource\.find\)`
	login.New(store.Cache{})
	//hangup:detached: the admin tool's store may run on
	login.New(db)
	_ = &server{users: db}               // reported above: once per type and method
	_ = &server{users: &store.Archive{}} // want `^\*store\.Archive is wired here as login\.Storer, and store\.Archive\.Save breaks`
}

type server struct{ users login.Storer }
