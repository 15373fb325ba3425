package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/flintml/flint/internal/bearer"
)

// cookieName holds the token a browser logged in with.
const cookieName = "flint_console_token"

// scope is the scope of the request's token: from the login cookie, else
// an Authorization: Bearer header. 0 means none or an unknown token; an
// open console (no tokens) gives everyone ScopeAdmin.
func (c *Console) scope(r *http.Request) Scope {
	if c.cfg.Tokens.Len() == 0 {
		return ScopeAdmin
	}
	if ck, err := r.Cookie(cookieName); err == nil && ck.Value != "" {
		return c.cfg.Tokens.Scope(ck.Value)
	}
	if tok, ok := bearer.Parse(r.Header.Get("Authorization")); ok {
		return c.cfg.Tokens.Scope(tok)
	}
	return 0
}

type handler func(w http.ResponseWriter, r *http.Request, s Scope)

// read lets through requests with any valid token; a browser without one
// is sent to the login page, anything else gets 401.
func (c *Console) read(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.scope(r)
		if s == 0 {
			if strings.Contains(r.Header.Get("Accept"), "text/html") {
				http.Redirect(w, r, c.cfg.Prefix+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="flint"`)
			http.Error(w, "the console needs a token: log in at "+c.cfg.Prefix+"/login", http.StatusUnauthorized)
			return
		}
		h(w, r, s)
	}
}

// admin lets through requests with an admin token, from the console's own
// pages (a cross-site form is refused by its Origin, and by the cookie's
// SameSite=Strict).
func (c *Console) admin(h handler) http.HandlerFunc {
	return c.read(func(w http.ResponseWriter, r *http.Request, s Scope) {
		if o := r.Header.Get("Origin"); o != "" && o != "null" {
			if u, err := url.Parse(o); err != nil || u.Host != r.Host {
				http.Error(w, "console: a change must come from the console's own page (Origin "+o+")", http.StatusForbidden)
				return
			}
		}
		if s < ScopeAdmin {
			c.fail(w, r, s, http.StatusForbidden, errForbidden)
			return
		}
		h(w, r, s)
	})
}

type consoleError string

func (e consoleError) Error() string { return string(e) }

const errForbidden = consoleError("this needs an admin token: a read token may look but not cancel jobs or move aliases")

type loginData struct {
	Next  string
	Error string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, "login", c.view("Log in", "", 0, loginData{Next: c.safeNext(r.URL.Query().Get("next"))}))
}

// login checks the token typed in and keeps it in an HTTP-only cookie.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.PostFormValue("token"))
	next := c.safeNext(r.PostFormValue("next"))
	if c.cfg.Tokens.Len() > 0 && c.cfg.Tokens.Scope(tok) == 0 {
		c.renderStatus(w, http.StatusUnauthorized, "login", c.view("Log in", "", 0,
			loginData{Next: next, Error: "That token is not one the console accepts."}))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: c.cfg.Prefix + "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: c.cfg.Prefix + "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, c.cfg.Prefix+"/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect inside the console.
func (c *Console) safeNext(next string) string {
	if !strings.HasPrefix(next, c.cfg.Prefix+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return c.cfg.Prefix + "/"
	}
	return next
}
