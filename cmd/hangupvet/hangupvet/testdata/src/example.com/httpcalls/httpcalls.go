// Package httpcalls checks outgoing HTTP requests without a context.
package httpcalls

import (
	"net/http"
	"net/url"
	"strings"
)

func proxy(w http.ResponseWriter, r *http.Request) {
	http.Get("http://upstream/")                                       // want `^http\.Get has no context: the outgoing request keeps running after the client leaves \(handler proxy\); build it with http\.NewRequestWithContext\(r\.Context\(\), …\) and send it with Client\.Do$`
	http.Head("http://upstream/")                                      // want `http\.Head has no context`
	http.Post("http://upstream/", "text/plain", strings.NewReader("")) // want `http\.Post has no context`
	http.PostForm("http://upstream/", url.Values{})                    // want `http\.PostForm has no context`

	client := &http.Client{}
	client.Get("http://upstream/")                       // want `client\.Get has no context`
	http.DefaultClient.Post("http://upstream/", "", nil) // want `http\.DefaultClient\.Post has no context`

	req, _ := http.NewRequest("GET", "http://upstream/", nil) // want `^http\.NewRequest has no context: the outgoing request keeps running after the client leaves \(handler proxy\); use http\.NewRequestWithContext\(r\.Context\(\), …\)$`
	client.Do(req)

	// With the request's context: nothing to report.
	req2, _ := http.NewRequestWithContext(r.Context(), "GET", "http://upstream/", nil)
	client.Do(req2)
}

func fetch(w http.ResponseWriter, r *http.Request) { build() }

func build() *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "/", nil) // want `\(handler fetch → build\); pass the request's context down and use http\.NewRequestWithContext$`
	return req
}
