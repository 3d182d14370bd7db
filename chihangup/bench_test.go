package chihangup_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/hangup-dev/hangup/internal/adaptertest"
)

// helloChi is chi with the benchmarks' hello-world route.
func helloChi() chi.Router {
	r := chi.NewRouter()
	r.Get(adaptertest.HelloPath, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, adaptertest.HelloBody) })
	return r
}

// BenchmarkHello measures one hello-world request on a keep-alive loopback
// connection, through plain chi and through chi with hangup.Install.
func BenchmarkHello(b *testing.B) { adaptertest.BenchHelloHTTP(b, helloChi()) }

// BenchmarkHandlerInProcess: plain chi, and chi with hangup.Install.
func BenchmarkHandlerInProcess(b *testing.B) { adaptertest.BenchInProcessHTTP(b, helloChi()) }
