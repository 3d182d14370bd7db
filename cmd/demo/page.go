package demo

import (
	"embed"
	"io/fs"
	"net/http"
)

// web holds the page: HTML, CSS and JavaScript, no external assets.
//
//go:embed web
var web embed.FS

// pageHandler serves the embedded page at /.
func pageHandler() http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
