// Package app has three handlers that reach store's query by two call
// sites: list and refresh call Feeds through a service, show calls Feed,
// which calls Feeds.
package app

import (
	"net/http"

	"example.com/feeds/store"
)

var db *store.Store

type service struct{ st *store.Store }

func (s service) all() { s.st.Feeds() }

var svc service

func list(w http.ResponseWriter, r *http.Request) {
	svc.all()
}

func refresh(w http.ResponseWriter, r *http.Request) {
	svc.all()
}

func show(w http.ResponseWriter, r *http.Request) {
	db.Feed(1)
	store.Backoff()
}
