package login // want package:`wiredCalls: example\.com/wiring/login\.Storer\.Save from login\.Resource\.signup; example\.com/wiring/login\.Storer\.Find from login\.Resource\.lookup → login\.Resource\.find; example\.com/wiring/login\.Storer\.Load from login\.Resource\.load}$`

// Package login's handlers reach their store through an interface that
// nothing here implements: the store is wired up by a package that
// imports this one (as go-base's auth/pwdless and api).

import (
	"context"
	"net/http"
)

// Storer is the store the handlers need.
type Storer interface {
	Save(email string) error
	Find(email string) error
	Load(ctx context.Context, email string) error
	Purge()
}

type Resource struct{ store Storer }

// New returns the login handlers over store.
func New(store Storer) *Resource { return &Resource{store: store} }

func (rs *Resource) signup(w http.ResponseWriter, r *http.Request) { rs.store.Save("a@b") }

func (rs *Resource) lookup(w http.ResponseWriter, r *http.Request) { rs.find("a@b") }

func (rs *Resource) find(email string) { rs.store.Find(email) }

// load passes its context through the interface: the store's Load honours it.
func (rs *Resource) load(w http.ResponseWriter, r *http.Request) { rs.store.Load(r.Context(), "a@b") }

// Purge is called by no handler.
func (rs *Resource) cleanup() { rs.store.Purge() }
