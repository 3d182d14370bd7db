// Package scope checks which context expression a fix writes.
package scope

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gofiber/fiber/v3"
	"github.com/labstack/echo/v4"
)

func use(ctx context.Context) {}

func log(string) {}

// The request's own context is preferred to a context parameter.
func both(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	use(context.Background()) // want `use r\.Context\(\)$`
}

func handler(w http.ResponseWriter, r *http.Request) {
	both(r.Context(), w, r)

	// A literal's own context parameter comes first.
	func(ctx context.Context) {
		use(context.Background()) // want `\(handler handler → func literal\); use ctx$`
	}(r.Context())

	// A closure sees the handler's request.
	go func() {
		log(r.URL.Path)
		use(context.TODO()) // want `\(handler handler → go func\); use r\.Context\(\)$`
	}()

	// A shadowed parameter does not count.
	{
		r := 0
		_ = r
		use(context.Background()) // want `\(handler handler\); pass the request's context down and use it$`
	}

	// Nor does a blank one.
	blank(nil)
}

func blank(_ context.Context) {
	use(context.Background()) // want `\(handler handler → blank\); pass the request's context down and use it$`
}

func echoHandler(c echo.Context) error {
	use(context.Background()) // want `use c\.Request\(\)\.Context\(\)$`
	return nil
}

func ginHandler(c *gin.Context) {
	use(context.Background()) // want `use c\.Request\.Context\(\)$`
}

func fiberHandler(c fiber.Ctx) error {
	use(context.Background()) // want `use c\.Context\(\)$`
	return nil
}
