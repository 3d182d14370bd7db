module github.com/hangup-dev/hangup

go 1.25

require (
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.41.0
)
