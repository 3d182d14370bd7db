module github.com/hangup-dev/hangup/fiberhangup

go 1.26.0

require (
	github.com/gofiber/fiber/v3 v3.1.0
	github.com/hangup-dev/hangup v0.0.0-00010101000000-000000000000
	github.com/hangup-dev/hangup/fasthttphangup v0.0.0-00010101000000-000000000000
	github.com/valyala/fasthttp v1.78.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/gofiber/schema v1.7.0 // indirect
	github.com/gofiber/utils/v2 v2.0.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/molecule-man/go-brrr v1.3.1 // indirect
	github.com/philhofer/fwd v1.2.0 // indirect
	github.com/tinylib/msgp v1.6.3 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace github.com/hangup-dev/hangup => ../

replace github.com/hangup-dev/hangup/fasthttphangup => ../fasthttphangup
