package serving

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flintml/flint/serving/predlog"
)

// RequestIDHeader carries a prediction's request id: taken from the
// request when the client gives one, made by the server otherwise, and
// sent back on the response. Labels name it to join the prediction log.
const RequestIDHeader = "X-Request-Id"

// maxRequestID bounds a client's request id; a longer one, or one with
// bytes outside printable ASCII, is replaced by one the server makes
// (never refused: the prediction log must not fail a prediction).
const maxRequestID = 128

// logPrediction gives the request its id and, when sampled, hands the
// request and response to the prediction log (Config.PredictionLog). It
// never blocks: a full queue drops the record and counts it.
func (s *Server) logPrediction(c echo.Context, lm *loadedModel, body, out []byte) {
	pl := s.cfg.PredictionLog
	if pl == nil {
		return
	}
	id := c.Request().Header.Get(RequestIDHeader)
	if !validRequestID(id) {
		id = pl.NewID()
	}
	c.Response().Header().Set(RequestIDHeader, id)
	if pl.Sampled() {
		pl.Offer(predlog.Entry{ID: id, Time: time.Now(), Model: lm.name, Version: lm.version, Request: body, Response: out})
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}
