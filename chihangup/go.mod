module github.com/hangup-dev/hangup/chihangup

go 1.25

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/hangup-dev/hangup v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
)

require golang.org/x/sys v0.41.0 // indirect

replace github.com/hangup-dev/hangup => ../
