package serving

// The handlers of the metadata, alias, recommendation and V2 health
// routes; the prediction handlers and the server itself are in server.go.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml/als"
	"github.com/flintml/flint/models"
)

// modelSummary is one model in GET /v1/models.
type modelSummary struct {
	Name     string         `json:"name"`
	Versions []int          `json:"versions"`
	Latest   int            `json:"latest"`
	Aliases  map[string]int `json:"aliases"`
	Serving  int            `json:"serving"` // the version the unversioned routes serve; 0: none
	Ready    bool           `json:"ready"`
}

func summarize(name string, st *modelState) modelSummary {
	m := modelSummary{Name: name, Versions: []int{}, Aliases: st.manifest.Aliases, Ready: st.def != nil}
	for _, v := range st.manifest.Versions {
		m.Versions = append(m.Versions, v.Version)
	}
	if l, ok := st.manifest.Latest(); ok {
		m.Latest = l.Version
	}
	if st.def != nil {
		m.Serving = st.def.version
	}
	return m
}

func (s *Server) listModels(c echo.Context) error {
	snap := s.snap.Load()
	out := struct {
		Models []modelSummary `json:"models"`
	}{Models: []modelSummary{}}
	for name, st := range snap.models {
		out.Models = append(out.Models, summarize(name, st))
	}
	sort.Slice(out.Models, func(i, j int) bool { return out.Models[i].Name < out.Models[j].Name })
	return c.JSON(http.StatusOK, out)
}

// modelDetail is GET /v1/models/{model}.
type modelDetail struct {
	Name     string          `json:"name"`
	Revision int64           `json:"revision"`
	Ready    bool            `json:"ready"`
	Latest   int             `json:"latest"`
	Aliases  map[string]int  `json:"aliases"`
	Serving  map[string]int  `json:"serving"` // what "default", "latest" and each alias serve now
	Versions []versionDetail `json:"versions"`
	// Of the default version:
	Algorithm string           `json:"algorithm,omitempty"`
	Output    string           `json:"output,omitempty"` // regression, classification, clustering, recommendation
	Features  int              `json:"features,omitempty"`
	Classes   []string         `json:"classes,omitempty"`
	Schema    *features.Schema `json:"schema,omitempty"`
}

type versionDetail struct {
	Version   int                  `json:"version"`
	Created   time.Time            `json:"created"`
	Published time.Time            `json:"published"`
	Algorithm string               `json:"algorithm"`
	Size      int64                `json:"size"`
	Metrics   map[string]jsonFloat `json:"metrics,omitempty"`
	Loaded    bool                 `json:"loaded"`
	LoadError string               `json:"load_error,omitempty"`
}

// jsonFloat encodes NaN and infinities as "NaN", "+Inf" and "-Inf", as the
// registry's manifests do.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (s *Server) describeModel(c echo.Context) error {
	name := c.Param("model")
	if err := models.CheckName(name); err != nil {
		return badRequest("%v", err)
	}
	st := s.snap.Load().models[name]
	if st == nil {
		return errorf(http.StatusNotFound, "model %q not found", name)
	}
	sum := summarize(name, st)
	d := modelDetail{Name: name, Revision: st.manifest.Revision, Ready: sum.Ready, Latest: sum.Latest,
		Aliases: st.manifest.Aliases, Serving: map[string]int{}, Versions: []versionDetail{}}
	if st.def != nil {
		d.Serving["default"] = st.def.version
	}
	if st.latest != nil {
		d.Serving["latest"] = st.latest.version
	}
	for a, lm := range st.aliases {
		d.Serving[a] = lm.version
	}
	for _, v := range st.manifest.Versions {
		vd := versionDetail{Version: v.Version, Created: v.Created, Published: v.Published, Algorithm: v.Algorithm,
			Size: v.Size, Loaded: st.loaded[v.Version] != nil || s.cache.peek(name, v.Version) != nil,
			LoadError: st.failures[v.Version]}
		if len(v.Metrics) > 0 {
			vd.Metrics = map[string]jsonFloat{}
			for k, f := range v.Metrics {
				vd.Metrics[k] = jsonFloat(f)
			}
		}
		d.Versions = append(d.Versions, vd)
	}
	if lm := st.def; lm != nil {
		d.Algorithm, d.Output, d.Features, d.Classes = lm.algorithm, lm.kind.String(), lm.width, lm.classes
		if lm.pred == nil || lm.pairs != nil {
			d.Output = "recommendation"
		}
		if lm.pipeline != nil {
			d.Schema = &lm.pipeline.Schema
		}
	}
	return c.JSON(http.StatusOK, d)
}

// setAlias serves PUT /v1/models/{model}/aliases/{alias}: {"version": n}.
func (s *Server) setAlias(c echo.Context) error {
	ctx := requestContext(c)
	name, alias := c.Param("model"), c.Param("alias")
	if err := models.CheckName(name); err != nil {
		return badRequest("%v", err)
	}
	if err := models.CheckAlias(alias); err != nil {
		return badRequest("%v", err)
	}
	body, held, err := s.readBody(c.Request())
	if err != nil {
		return err
	}
	defer held.release()
	var req struct {
		Version *int `json:"version"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badRequest(`want {"version": N}: %v`, err)
	}
	if dec.More() {
		return badRequest(`want one JSON object {"version": N}`)
	}
	if req.Version == nil || *req.Version < 1 {
		return badRequest(`want {"version": N} with N >= 1`)
	}
	v := *req.Version
	if err := s.cfg.Registry.SetAliasBy(ctx, name, alias, v, models.AliasChange{Actor: "flint serve admin API from " + c.RealIP()}); err != nil {
		if errors.Is(err, models.ErrNotFound) {
			if _, derr := s.cfg.Registry.Describe(ctx, name); errors.Is(derr, models.ErrNotFound) {
				return errorf(http.StatusNotFound, "model %q not found", name).withCause(err)
			}
			return errorf(http.StatusNotFound, "model %q has no version %d", name, v).withCause(err)
		}
		return fmt.Errorf("set alias %q of model %q to version %d: %w", alias, name, v, err)
	}
	s.log.Info("serving: alias moved", "model", name, "alias", alias, "version", v, "remote", c.Request().RemoteAddr)
	// Apply it now rather than at the next poll, so the answer is true.
	if err := s.refresh(ctx, name); err != nil {
		s.log.Warn("serving: reload after alias move (the watcher will retry)", "model", name, "err", err)
	}
	loaded := false
	if st := s.snap.Load().models[name]; st != nil && st.aliases[alias] != nil {
		loaded = st.aliases[alias].version == v
	}
	return c.JSON(http.StatusOK, map[string]any{"model": name, "alias": alias, "version": v, "loaded": loaded})
}

// recommendations is the body of the recommendation routes.
type recommendations struct {
	Model   string `json:"model"`
	Version int    `json:"version"`
	User    string `json:"user,omitempty"`
	Item    string `json:"item,omitempty"`
	// Fallback is "popular" when the user was not seen in training and
	// the request asked for the popular items instead.
	Fallback string        `json:"fallback,omitempty"`
	Items    []scoredValue `json:"items"`
}

type scoredValue struct {
	ID    string    `json:"id"`
	Score jsonFloat `json:"score"`
}

// maxK bounds k on the recommendation routes.
const maxK = 1000

// recommendation serves GET /v1/models/{model}[/versions/{v}|/aliases/{a}]/recommend
// and /v1/models/{model}/similar.
func (s *Server) recommendation(similar bool, kind refKind, param string) echo.HandlerFunc {
	return func(c echo.Context) error {
		lm, err := s.resolve(requestContext(c), c.Param("model"), kind, c.Param(param), false)
		if err != nil {
			return err
		}
		infoOf(c).model = lm
		if lm.rec == nil {
			return badRequest("model %q version %d (%s) does not recommend", lm.name, lm.version, lm.algorithm)
		}
		k := 10
		if q := c.QueryParam("k"); q != "" {
			if k, err = strconv.Atoi(q); err != nil || k < 1 || k > maxK {
				return badRequest("k=%q: want an integer from 1 to %d", q, maxK)
			}
		}
		out := recommendations{Model: lm.name, Version: lm.version, Items: []scoredValue{}}
		var items []scored
		if similar {
			out.Item = c.QueryParam("item")
			if out.Item == "" {
				return badRequest("the query parameter item is required")
			}
			items, err = lm.rec.SimilarItems(out.Item, k)
		} else {
			out.User = c.QueryParam("user")
			if out.User == "" {
				return badRequest("the query parameter user is required")
			}
			exclude := false
			if q := c.QueryParam("exclude_seen"); q != "" {
				if exclude, err = strconv.ParseBool(q); err != nil {
					return badRequest("exclude_seen=%q: want true or false", q)
				}
			}
			items, err = lm.rec.Recommend(out.User, k, exclude)
			switch fb := c.QueryParam("fallback"); {
			case fb != "" && fb != "popular":
				return badRequest(`fallback=%q: want "popular" (the items rated most in training, for a user not seen in training)`, fb)
			case fb == "popular" && errors.Is(err, als.ErrUnknownUser):
				pop, ok := lm.rec.(popularity)
				if !ok {
					return badRequest("fallback=popular: model %q version %d (%s) knows no popularity", lm.name, lm.version, lm.algorithm)
				}
				items, err = pop.Popular(k)
				out.Fallback = fb
			}
		}
		if err != nil {
			return err
		}
		for _, it := range items {
			out.Items = append(out.Items, scoredValue{ID: it.ID, Score: jsonFloat(it.Score)})
		}
		return c.JSON(http.StatusOK, out)
	}
}

// v2ServerMetadata serves GET /v2 ("Server Metadata").
func (s *Server) v2ServerMetadata(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"name": "flint", "version": s.cfg.Version, "extensions": []string{}})
}

// v2Live serves GET /v2/health/live ("Server Live").
func (s *Server) v2Live(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]bool{"live": true})
}

// v2Ready serves GET /v2/health/ready ("Server Ready"). The protocol's
// "Health" section: 200 means true, a 4xx status false.
func (s *Server) v2Ready(c echo.Context) error {
	if s.Ready() {
		return c.JSON(http.StatusOK, map[string]bool{"ready": true})
	}
	return c.JSON(http.StatusBadRequest, map[string]bool{"ready": false})
}

// modelReady is the "Model Ready Response JSON Object", with what Flint
// adds: the version that serves, and the versions that failed to load.
type modelReady struct {
	Name       string            `json:"name"`
	Ready      bool              `json:"ready"`
	Version    string            `json:"version,omitempty"`
	Error      string            `json:"error,omitempty"`
	LoadErrors map[string]string `json:"load_errors,omitempty"`
}

// v2ModelReady serves GET /v2/models/{model}[/versions/{version}]/ready
// ("Model Ready"): 200 when ready, 400 when not (a 4xx, per "Health").
func (s *Server) v2ModelReady(kind refKind) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := c.Param("model")
		lm, err := s.resolve(requestContext(c), name, kind, c.Param("version"), true)
		var re *requestError
		if err != nil && (!errors.As(err, &re) || re.Status != http.StatusServiceUnavailable) {
			return err // no such model or version, a bad name
		}
		out := modelReady{Name: name, Ready: err == nil}
		if err != nil {
			out.Error = re.Msg
		} else {
			out.Version = lm.versionStr
		}
		if st := s.snap.Load().models[name]; st != nil && len(st.failures) > 0 {
			out.LoadErrors = map[string]string{}
			for v, msg := range st.failures {
				out.LoadErrors[strconv.Itoa(v)] = msg
			}
		}
		if !out.Ready {
			return c.JSON(http.StatusBadRequest, out)
		}
		return c.JSON(http.StatusOK, out)
	}
}

// v2ModelMetadata serves GET /v2/models/{model}[/versions/{version}]
// ("Model Metadata").
func (s *Server) v2ModelMetadata(kind refKind) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := c.Param("model")
		lm, err := s.resolve(requestContext(c), name, kind, c.Param("version"), true)
		if err != nil {
			return err
		}
		infoOf(c).model = lm
		versions := []string{}
		if st := s.snap.Load().models[name]; st != nil {
			for _, v := range st.manifest.Versions {
				versions = append(versions, strconv.Itoa(v.Version))
			}
		}
		return c.JSON(http.StatusOK, lm.v2Metadata(versions))
	}
}
