// Package httpingest is an HTTP endpoint that appends JSON records to
// topics of the log, as Kafka's REST proxy does, for services that stream
// events into a Flint whose embedded log only one process may write: the
// process that owns the log (flint features run --http) serves it.
//
//	POST /v1/topics/{topic}/records
//	{"records": [{"card": "c1", "at": "2026-12-07T10:00:00Z", "amount": 12.5}, …]}
//
// Every record is checked against the topic's schema by the features
// package (the one decoder of field values), and keyed by its key field as
// flint ingest --key keys it, so a key's records share a partition. A
// request is all or nothing: one bad record refuses it with 422 naming the
// record's index and field, and appends none. The answer comes only once
// the log has acknowledged every record (with the embedded log opened to
// fsync before acknowledging, once they are on disk), with the partition
// and offset of each, in order:
//
//	{"topic": "tx", "offsets": [{"partition": 1, "offset": 4711}, …]}
//
// Bodies are bounded (413 beyond Config.MaxBodyBytes), must be JSON (415
// otherwise), may be gzip-encoded, and need a bearer token when tokens are
// configured (internal/bearer, as the other APIs).
package httpingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/internal/bearer"
	"github.com/flintml/flint/log"
)

// Topic is a topic the endpoint appends to: the schema its records must
// fit and the field that keys them ("" for unkeyed).
type Topic struct {
	Schema features.Schema
	Key    string
}

// Config configures the endpoint.
type Config struct {
	// Log receives the records. Required.
	Log log.Log
	// Topics are the topics records may be appended to, by name.
	Topics map[string]Topic
	// MaxBodyBytes bounds a request body (after gzip); default 4 MiB.
	MaxBodyBytes int64
	// Token, when set, is the bearer token every request needs.
	Token string
	// Logger receives refused tokens and append failures; default
	// slog.Default().
	Logger *slog.Logger
}

// Handler is the endpoint, with its metrics.
type Handler struct {
	echo    *echo.Echo
	cfg     Config
	records *prometheus.CounterVec // topic, outcome
	refused prometheus.Counter
}

// New returns the endpoint for cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Log == nil {
		return nil, errors.New("httpingest: Config.Log is required")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for name, t := range cfg.Topics {
		if err := t.Schema.Validate(); err != nil {
			return nil, fmt.Errorf("httpingest: topic %s: %w", name, err)
		}
		if t.Key != "" && t.Schema.Index(t.Key) < 0 {
			return nil, fmt.Errorf("httpingest: topic %s: key field %q is not in its schema", name, t.Key)
		}
	}
	h := &Handler{cfg: cfg, echo: echo.New(),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flint_ingest_http_records_total",
			Help: "Records posted to the HTTP ingest endpoint, by topic and outcome (appended, refused)."}, []string{"topic", "outcome"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "flint_ingest_http_auth_refused_total",
			Help: "Requests to the HTTP ingest endpoint refused for a missing or invalid bearer token."}),
	}
	h.echo.HideBanner, h.echo.HidePort = true, true
	h.echo.HTTPErrorHandler = h.errorHandler
	var mw []echo.MiddlewareFunc
	if cfg.Token != "" {
		var ts bearer.Tokens[int]
		ts.Add(cfg.Token, 1)
		mw = append(mw, bearer.New(bearer.Config[int]{Tokens: &ts, Refused: h.refused, Log: cfg.Logger,
			LogMsg: "httpingest: refused a request",
			Refuse: func(_ echo.Context, e *bearer.Error[int]) error {
				if e.Reason == bearer.Missing {
					return echo.NewHTTPError(http.StatusUnauthorized, "the ingest endpoint needs a bearer token (Authorization: Bearer TOKEN)")
				}
				return echo.NewHTTPError(e.Status, "the bearer token is not valid")
			}}).Require(1))
	}
	h.echo.POST("/v1/topics/:topic/records", h.post, mw...)
	return h, nil
}

// ServeHTTP serves the endpoint.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.echo.ServeHTTP(w, r) }

// Collectors are the endpoint's Prometheus metrics.
func (h *Handler) Collectors() []prometheus.Collector {
	return []prometheus.Collector{h.records, h.refused}
}

// Offset is where the log put a record.
type Offset struct {
	Partition int   `json:"partition"`
	Offset    int64 `json:"offset"`
}

type response struct {
	Topic   string   `json:"topic"`
	Offsets []Offset `json:"offsets"`
}

func (h *Handler) post(c echo.Context) error {
	name := c.Param("topic")
	t, ok := h.cfg.Topics[name]
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("topic %q: this process takes records for %s", name, h.topicList()))
	}
	body, err := h.body(c.Request())
	if err != nil {
		return err
	}
	var req struct {
		Records []json.RawMessage `json:"records"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf(`the body must be {"records": [JSON objects]}: %v`, err))
	}
	if len(req.Records) == 0 {
		return echo.NewHTTPError(http.StatusBadRequest, `no records: the body must be {"records": [JSON objects]}`)
	}
	recs, err := h.decodeRecords(t, req.Records)
	if err != nil {
		h.records.WithLabelValues(name, "refused").Add(float64(len(req.Records)))
		return err
	}
	if err := h.cfg.Log.Append(c.Request().Context(), name, recs); err != nil {
		n := 0
		for _, r := range recs {
			if r.Topic != "" {
				n++
			}
		}
		h.records.WithLabelValues(name, "appended").Add(float64(n))
		h.cfg.Logger.Error("httpingest: append", "topic", name, "records", len(recs), "acknowledged", n, "err", err)
		return echo.NewHTTPError(http.StatusServiceUnavailable, fmt.Sprintf("the log did not acknowledge the records (%d of %d were, of partitions that succeeded): %v; send the request again", n, len(recs), err))
	}
	h.records.WithLabelValues(name, "appended").Add(float64(len(recs)))
	out := response{Topic: name, Offsets: make([]Offset, len(recs))}
	for i, r := range recs {
		out.Offsets[i] = Offset{Partition: r.Partition, Offset: r.Offset}
	}
	return c.JSON(http.StatusOK, out)
}

// decodeRecords checks every record against the schema and keys it.
func (h *Handler) decodeRecords(t Topic, raw []json.RawMessage) ([]log.Record, error) {
	row := t.Schema.NewRow()
	key := -1
	if t.Key != "" {
		key = t.Schema.Index(t.Key)
	}
	recs := make([]log.Record, len(raw))
	for i, v := range raw {
		if err := t.Schema.Decode(row, v); err != nil {
			return nil, echo.NewHTTPError(http.StatusUnprocessableEntity, fmt.Sprintf("records[%d]: %v (no record of the request was appended)", i, err))
		}
		recs[i].Value = append([]byte(nil), bytes.TrimSpace(v)...)
		if key >= 0 {
			recs[i].Key = []byte(features.KeyText(row[key], t.Schema.Fields[key]))
		}
	}
	return recs, nil
}

// body reads the request body: JSON, gzip or not, bounded.
func (h *Handler) body(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != echo.MIMEApplicationJSON {
			return nil, echo.NewHTTPError(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send application/json", ct))
		}
	}
	var rd io.Reader = r.Body
	switch enc := r.Header.Get(echo.HeaderContentEncoding); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("the gzip body does not decode: %v", err))
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, echo.NewHTTPError(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q: send gzip or none", enc))
	}
	b, err := io.ReadAll(io.LimitReader(rd, h.cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("read the body: %v", err))
	}
	if int64(len(b)) > h.cfg.MaxBodyBytes {
		return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, "the body is over "+strconv.FormatInt(h.cfg.MaxBodyBytes, 10)+" bytes: send fewer records per request")
	}
	return b, nil
}

func (h *Handler) topicList() string {
	var b []byte
	for name := range h.cfg.Topics {
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendQuote(b, name)
	}
	if len(b) == 0 {
		return "no topic"
	}
	return string(b)
}

// errorHandler answers {"error": message}.
func (h *Handler) errorHandler(err error, c echo.Context) {
	code, msg := http.StatusInternalServerError, err.Error()
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code, msg = he.Code, fmt.Sprint(he.Message)
	}
	if !c.Response().Committed {
		_ = c.JSON(code, map[string]string{"error": msg})
	}
}
