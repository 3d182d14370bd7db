package hangupvet

import (
	"go/types"
)

// Framework packages whose handler shapes mark a function as a root. They
// are matched by import path and type name, never by the name the code
// gives the import.
const (
	netHTTPPath = "net/http"
	echoV4Path  = "github.com/labstack/echo/v4"
	echoV5Path  = "github.com/labstack/echo/v5"
	ginPath     = "github.com/gin-gonic/gin"
	fiberV3Path = "github.com/gofiber/fiber/v3"
)

// isHandler reports whether sig is the signature of an HTTP handler:
//
//	func(http.ResponseWriter, *http.Request)   net/http, chi, ServeHTTP methods
//	func(echo.Context) error                   Echo v4 (v5: *echo.Context)
//	func(*gin.Context)                         Gin
//	func(fiber.Ctx) error                      Fiber v3, where Ctx is an interface
//
// The receiver of a method does not count, so ServeHTTP methods and
// handler methods on a server type match too.
func isHandler(sig *types.Signature) bool {
	params, results := sig.Params(), sig.Results()
	switch params.Len() {
	case 2:
		return results.Len() == 0 &&
			isNamed(params.At(0).Type(), netHTTPPath, "ResponseWriter") &&
			isPointerTo(params.At(1).Type(), netHTTPPath, "Request")
	case 1:
		p := params.At(0).Type()
		if results.Len() == 0 {
			return isPointerTo(p, ginPath, "Context")
		}
		if results.Len() != 1 || !isError(results.At(0).Type()) {
			return false
		}
		return isNamed(p, echoV4Path, "Context") ||
			isPointerTo(p, echoV5Path, "Context") ||
			isNamed(p, fiberV3Path, "Ctx")
	}
	return false
}

// requestContextOf returns the expression that yields the request's context
// from a parameter called name of type t, or "" when t carries no request.
// Its order of preference is the order of the cases.
func requestContextOf(name string, t types.Type) string {
	switch {
	case isPointerTo(t, netHTTPPath, "Request"):
		return name + ".Context()"
	case isContext(t):
		return name
	case isNamed(t, echoV4Path, "Context"), isPointerTo(t, echoV5Path, "Context"):
		return name + ".Request().Context()"
	case isPointerTo(t, ginPath, "Context"):
		return name + ".Request.Context()"
	case isNamed(t, fiberV3Path, "Ctx"):
		return name + ".Context()"
	}
	return ""
}

// contextRank orders the parameters that carry a request context, lowest
// first: an *http.Request's own context is preferred to a context.Context
// parameter, which is preferred to a framework's context.
func contextRank(t types.Type) int {
	switch {
	case isPointerTo(t, netHTTPPath, "Request"):
		return 0
	case isContext(t):
		return 1
	case requestContextOf("_", t) != "":
		return 2
	}
	return -1
}

// isNamed reports whether t is the named type pkgPath.name, looking through
// aliases (gin and Fiber export some of their types as aliases).
func isNamed(t types.Type, pkgPath, name string) bool {
	n, ok := types.Unalias(t).(*types.Named)
	if !ok {
		return false
	}
	obj := n.Origin().Obj()
	return obj.Name() == name && obj.Pkg() != nil && obj.Pkg().Path() == pkgPath
}

// isPointerTo reports whether t is *pkgPath.name.
func isPointerTo(t types.Type, pkgPath, name string) bool {
	p, ok := types.Unalias(t).(*types.Pointer)
	return ok && isNamed(p.Elem(), pkgPath, name)
}

// isContext reports whether t is context.Context.
func isContext(t types.Type) bool { return isNamed(t, "context", "Context") }

// isError reports whether t is the predeclared error type.
func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

// hasContextParam reports whether sig takes a context.Context.
func hasContextParam(sig *types.Signature) bool {
	for v := range sig.Params().Variables() {
		if isContext(v.Type()) {
			return true
		}
	}
	return false
}
