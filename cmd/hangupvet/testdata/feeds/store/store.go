// Package store is a storage layer that uses no contexts, as the feed
// reader's does: every handler that reads feeds ends at the same query.
package store

import (
	"database/sql"
	"time"
)

type Store struct{ db *sql.DB }

// Feeds is the one query both handlers reach, through different paths.
func (s *Store) Feeds() (*sql.Rows, error) {
	return s.db.Query("SELECT * FROM feeds")
}

// Feed reaches the query through Feeds.
func (s *Store) Feed(id int) (*sql.Rows, error) {
	return s.Feeds()
}

// Backoff is a second cause, reached by one handler.
func Backoff() {
	time.Sleep(time.Second)
}
