// Package web is the node's dashboard (issue 8): server-rendered pages and
// a JSON API under /api/v1, built on gin, with templates and assets
// embedded so that no page loads anything from another host. It reads
// everything through Backend, which the node implements; see
// docs/dashboard.md for the pages and endpoints.
package web

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// DefaultAddr is where the dashboard listens unless told otherwise:
// loopback only.
const DefaultAddr = "127.0.0.1:8080"

// ErrTokenRequired is returned by New for an address other than loopback
// without a token.
var ErrTokenRequired = errors.New("web: a token is required to listen on an address other than loopback")

// ErrNoBackend is returned by New without a Backend.
var ErrNoBackend = errors.New("web: no backend")

// Config configures the dashboard.
type Config struct {
	Backend Backend
	// Addr is the address the caller serves the handler on (default
	// DefaultAddr). New does not listen; it uses Addr to decide whether a
	// token is required and which Host headers to accept.
	Addr string
	// Token, when set, is required on every request: as "Authorization:
	// Bearer TOKEN" for the API, or through the login form, which sets a
	// session cookie. Required when Addr is not loopback.
	Token string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives request failures (default slog.Default()).
	Logger *slog.Logger
}

// contentSecurityPolicy allows the page's own script, stylesheet and
// images, inline SVG (which is markup, not an image load) and nothing from
// another host; no inline script or style.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

type server struct {
	backend   Backend
	now       func() time.Time
	log       *slog.Logger
	tokenHash [sha256.Size]byte
	hasToken  bool
	loopback  bool
	hosts     map[string]bool // accepted Host names on loopback without token
	csrfKey   [32]byte
	sessions  *sessionStore
	pages     map[string]*template.Template
}

// New returns the dashboard's handler. It refuses a non-loopback Addr
// without a Token.
func New(cfg Config) (http.Handler, error) {
	if cfg.Backend == nil {
		return nil, ErrNoBackend
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("web: address %q: %w", cfg.Addr, err)
	}
	loopback := isLoopbackHost(host)
	if !loopback && cfg.Token == "" {
		return nil, fmt.Errorf("%w (address %q)", ErrTokenRequired, cfg.Addr)
	}
	s := &server{
		backend:  cfg.Backend,
		now:      cfg.Now,
		log:      cfg.Logger,
		loopback: loopback,
		hasToken: cfg.Token != "",
		hosts:    map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true, strings.ToLower(host): true},
		sessions: newSessionStore(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.hasToken {
		s.tokenHash = sha256.Sum256([]byte(cfg.Token))
	}
	if _, err := rand.Read(s.csrfKey[:]); err != nil {
		return nil, fmt.Errorf("web: drawing the CSRF key: %w", err)
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return s.routes()
}

// IsLoopbackAddr reports whether addr (host:port) listens on the loopback
// interface only, where the dashboard needs no token.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isLoopbackHost(host)
}

// isLoopbackHost reports whether host names only the loopback interface.
// An empty host or an unspecified address (0.0.0.0, ::) listens on every
// interface and is not loopback.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *server) routes() (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(s.recoverer, s.securityHeaders, s.checkHost, s.session)

	assets, err := fs.Sub(assetFiles, "assets")
	if err != nil {
		return nil, fmt.Errorf("web: embedded assets: %w", err)
	}
	r.StaticFS("/assets", http.FS(assets))
	r.GET("/login", s.loginPage)
	r.POST("/login", s.checkCSRF, s.login)

	pages := r.Group("/", s.requireAuth(false))
	pages.POST("/logout", s.checkCSRF, s.logout)
	pages.GET("/", s.overviewPage)
	pages.GET("/exposures", s.exposuresPage)
	pages.GET("/contacts", s.contactsPage)
	pages.GET("/harvester", s.harvesterPage)
	pages.GET("/share", s.sharePage)
	pages.POST("/share", s.checkCSRF, s.shareForm)
	pages.GET("/settings", s.settingsPage)
	pages.POST("/settings", s.checkCSRF, s.settingsForm)

	api := r.Group("/api/v1", s.requireAuth(true), s.checkAPIWrite)
	api.GET("/status", s.apiStatus)
	api.GET("/exposures", s.apiExposures)
	api.GET("/contacts", s.apiContacts)
	api.GET("/harvester", s.apiHarvester)
	api.GET("/settings", s.apiSettings)
	api.PUT("/settings", s.apiPutSettings)
	api.POST("/share/preview", s.apiSharePreview)
	api.POST("/share", s.apiShareSubmit)

	r.NoRoute(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, "/api/") {
			c.JSON(http.StatusNotFound, apiError{Error: "no such endpoint"})
			return
		}
		s.renderError(c, http.StatusNotFound, "There is no such page.")
	})
	r.NoMethod(func(c *gin.Context) {
		c.JSON(http.StatusMethodNotAllowed, apiError{Error: "method not allowed"})
	})
	return r, nil
}

// recoverer turns a panic in a handler into a 500 without the stack in
// the response.
func (s *server) recoverer(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("web: handler panicked", "path", c.Request.URL.Path, "panic", v)
			c.AbortWithStatus(http.StatusInternalServerError)
		}
	}()
	c.Next()
}

func (s *server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// Browsers honour the opener policy only from a trustworthy origin
	// (TLS or loopback) and log an error for it anywhere else, such as
	// plain HTTP on a LAN address.
	if c.Request.TLS != nil || isLoopbackHost(requestHost(c.Request)) {
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
	}
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.Next()
}

// requestHost is the host name of r's Host header, lower case, without
// port or brackets.
func requestHost(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
}

// checkHost defends the tokenless loopback dashboard against DNS
// rebinding: a page on another site whose name resolves to 127.0.0.1
// reaches this server with its own name in Host, and is refused.
func (s *server) checkHost(c *gin.Context) {
	if s.hasToken {
		c.Next()
		return
	}
	if !s.hosts[requestHost(c.Request)] {
		c.AbortWithStatusJSON(http.StatusMisdirectedRequest, apiError{Error: "this dashboard answers only to localhost"})
		return
	}
	c.Next()
}
