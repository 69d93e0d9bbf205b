package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

const (
	// sessionCookie holds a random browser id. With a token configured,
	// the login form marks it authenticated (server side); in every case
	// the CSRF token is derived from it.
	sessionCookie = "pact_session"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
	sessionTTL    = 12 * time.Hour
	maxSessions   = 64
	ctxSession    = "web.session"
	ctxAuthBearer = "web.bearer"
)

// sessionStore remembers which browser ids logged in. It is in memory: a
// restart logs everyone out, which for a single-owner node is the safe
// side. It holds at most maxSessions, dropping the oldest.
type sessionStore struct {
	mu       sync.Mutex
	loggedIn map[string]time.Time // id -> expiry
}

func newSessionStore() *sessionStore { return &sessionStore{loggedIn: map[string]time.Time{}} }

func (st *sessionStore) add(id string, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, exp := range st.loggedIn {
		if !now.Before(exp) {
			delete(st.loggedIn, k)
		}
	}
	if len(st.loggedIn) >= maxSessions {
		oldest := ""
		for k, exp := range st.loggedIn {
			if oldest == "" || exp.Before(st.loggedIn[oldest]) {
				oldest = k
			}
		}
		delete(st.loggedIn, oldest)
	}
	st.loggedIn[id] = now.Add(sessionTTL)
}

func (st *sessionStore) valid(id string, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	exp, ok := st.loggedIn[id]
	return ok && now.Before(exp)
}

func (st *sessionStore) remove(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.loggedIn, id)
}

func newSessionID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("web: no randomness for a session id: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func validSessionID(id string) bool {
	b, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil && len(b) == 32
}

func (s *server) setSessionCookie(c *gin.Context, id string) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request.TLS != nil,
	})
}

// session gives every browser an id cookie, used for login and CSRF.
func (s *server) session(c *gin.Context) {
	id := ""
	if ck, err := c.Request.Cookie(sessionCookie); err == nil && validSessionID(ck.Value) {
		id = ck.Value
	}
	if id == "" && !strings.HasPrefix(c.Request.URL.Path, "/api/") {
		id = newSessionID()
		s.setSessionCookie(c, id)
	}
	c.Set(ctxSession, id)
	c.Next()
}

// csrfToken is HMAC(key, session id): a synchronizer token that needs no
// server state, which a page on another site can neither read nor compute.
func (s *server) csrfToken(c *gin.Context) string {
	id := c.GetString(ctxSession)
	if id == "" {
		return ""
	}
	m := hmac.New(sha256.New, s.csrfKey[:])
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF refuses a form without the token of its session.
func (s *server) checkCSRF(c *gin.Context) {
	want := s.csrfToken(c)
	got := c.PostForm(csrfField)
	if got == "" {
		got = c.GetHeader(csrfHeader)
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		s.renderError(c, http.StatusForbidden, "This form is stale or did not come from this dashboard. Reload the page and try again.")
		c.Abort()
		return
	}
	c.Next()
}

// tokenOK compares a presented token with the configured one in constant
// time: both are hashed first, so neither length nor content leaks.
func (s *server) tokenOK(presented string) bool {
	h := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
		return strings.TrimSpace(v[7:]), true
	}
	return "", false
}

// requireAuth lets a request through when no token is configured, or it
// carries the token as a bearer header, or its session logged in.
func (s *server) requireAuth(api bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.hasToken {
			c.Next()
			return
		}
		if tok, ok := bearer(c.Request); ok {
			if s.tokenOK(tok) {
				c.Set(ctxAuthBearer, true)
				c.Next()
				return
			}
		} else if id := c.GetString(ctxSession); id != "" && s.sessions.valid(id, s.now()) {
			c.Next()
			return
		}
		if api {
			c.Header("WWW-Authenticate", `Bearer realm="pact-bridge"`)
			c.AbortWithStatusJSON(http.StatusUnauthorized, apiError{Error: "a token is required: send Authorization: Bearer TOKEN"})
			return
		}
		if c.Request.Method == http.MethodGet {
			c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.Path))
			c.Abort()
			return
		}
		s.renderError(c, http.StatusUnauthorized, "Log in first.")
		c.Abort()
	}
}

// checkAPIWrite guards the API's writing endpoints against cross-site
// requests: the body must be JSON, which a form on another site cannot
// send and a script on another site can send only after a CORS preflight
// that this server never grants; a browser that says the request came from
// elsewhere is refused outright. A session-authenticated write must also
// carry the CSRF header.
func (s *server) checkAPIWrite(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next()
		return
	}
	if site := c.GetHeader("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		c.AbortWithStatusJSON(http.StatusForbidden, apiError{Error: "cross-site request refused"})
		return
	}
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		c.AbortWithStatusJSON(http.StatusUnsupportedMediaType, apiError{Error: "send the body as application/json"})
		return
	}
	if s.hasToken && !c.GetBool(ctxAuthBearer) {
		want := s.csrfToken(c)
		if want == "" || subtle.ConstantTimeCompare([]byte(c.GetHeader(csrfHeader)), []byte(want)) != 1 {
			c.AbortWithStatusJSON(http.StatusForbidden, apiError{Error: "missing or wrong " + csrfHeader + " header"})
			return
		}
	}
	c.Next()
}

func (s *server) loginPage(c *gin.Context) {
	if !s.hasToken {
		c.Redirect(http.StatusSeeOther, "/")
		return
	}
	s.render(c, http.StatusOK, "login", "Log in", loginView{Next: safeNext(c.Query("next"))})
}

type loginView struct {
	Next  string
	Error string
}

// safeNext keeps a redirect target on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

func (s *server) login(c *gin.Context) {
	if !s.hasToken {
		c.Redirect(http.StatusSeeOther, "/")
		return
	}
	next := safeNext(c.PostForm("next"))
	if !s.tokenOK(c.PostForm("token")) {
		s.render(c, http.StatusUnauthorized, "login", "Log in", loginView{Next: next, Error: "That token is not the one this node was started with."})
		return
	}
	// A fresh id on login: an id planted before login is worth nothing.
	id := newSessionID()
	s.sessions.add(id, s.now())
	s.setSessionCookie(c, id)
	c.Redirect(http.StatusSeeOther, next)
}

func (s *server) logout(c *gin.Context) {
	s.sessions.remove(c.GetString(ctxSession))
	s.setSessionCookie(c, newSessionID())
	c.Redirect(http.StatusSeeOther, "/login")
}
