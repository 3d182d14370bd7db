package roots

import (
	"net/http"
	"time"
)

// Handlers in tests stand in for slow servers on purpose.
func slowHandler(w http.ResponseWriter, r *http.Request) {
	time.Sleep(time.Second)
}
