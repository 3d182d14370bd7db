module github.com/hangup-dev/hangup/internal/h2ctest

go 1.26.0

require (
	github.com/hangup-dev/hangup v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
	golang.org/x/net v0.62.0
)

require (
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace github.com/hangup-dev/hangup => ../../
