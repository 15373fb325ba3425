package serving

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// route is one endpoint: how it is served and how docs/openapi.json
// describes it. The OpenAPI document is generated from this table, so it
// cannot forget a route; TestOpenAPI keeps docs/openapi.json equal to it.
type route struct {
	method, path string
	scope        Scope // 0: open to all
	timeout      bool  // the request context gets Config.RequestTimeout
	handler      echo.HandlerFunc
	doc          opDoc
}

// opDoc is an OpenAPI operation.
type opDoc struct {
	id, tag, summary, desc string
	query                  []queryParam
	body                   string // request body schema
	ok                     string // 200 response schema ("" for text)
	fail                   []int  // error statuses beyond 401/403 of a protected route
}

type queryParam struct {
	name, desc, typ string
	required        bool
}

// bodyNote describes what every route with a request body takes.
const bodyNote = "The body is JSON (Content-Type application/json, or none), optionally gzip-compressed " +
	"(Content-Encoding: gzip; the limit applies after decompression); other types and encodings get 415. " +
	"A body larger than the server's limit gets 413, one that does not arrive within its read timeout 408, " +
	"and a request that would take the server over its bound on request bytes in flight 503 with Retry-After. " +
	"A prediction that is not a finite number gets 422 naming the row."

// The path parameters every route shares.
var pathParams = map[string]string{
	"model":   "Model name: 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit.",
	"version": "Version number. The V2 routes also take an alias here (or \"latest\").",
	"alias":   "Alias, e.g. \"production\".",
}

func (s *Server) routes() []route {
	predictDoc := func(id, which string) opDoc {
		return opDoc{id: id, tag: "native", summary: "Predict rows with " + which,
			desc: "Rows are JSON objects keyed by the schema's raw field names; the model's fitted feature pipeline " +
				"runs on the server. Predictions come back in input order. Errors name the row and the field. " + bodyNote,
			body: "PredictRequest", ok: "PredictResponse", fail: []int{400, 404, 408, 413, 415, 422, 503}}
	}
	inferDoc := func(id, which string) opDoc {
		return opDoc{id: id, tag: "v2", summary: "Inference on " + which + " (Open Inference Protocol)",
			desc: "One input tensor per schema field, named after it: shape [N] (or [N, dim] for a vector field), " +
				"FP64/FP32/INT64/INT32/BOOL data for numbers, BYTES for categorical and text fields. Outputs: " +
				"\"predict\" (class index, value or cluster, shape [N]) and, for classifiers with probabilities, \"probabilities\" (FP64, [N, classes]). " +
				"Tensors for schema fields the model does not read are ignored (refused when the server is strict about fields). " + bodyNote,
			body: "InferenceRequest", ok: "InferenceResponse", fail: []int{400, 404, 408, 413, 415, 422, 503}}
	}
	readyDoc := func(id, which string) opDoc {
		return opDoc{id: id, tag: "v2", summary: "Is " + which + " ready (Model Ready)",
			desc: "200 when it can serve, 400 when it cannot (the protocol's Health section: a 4xx means false). " +
				"load_errors lists versions that failed to load while an older one serves.",
			ok: "ModelReady", fail: []int{400, 404}}
	}
	recommendDoc := func(id, which string) opDoc {
		return opDoc{id: id, tag: "native", summary: "Recommend items to a user with " + which + " (ALS models)",
			query: []queryParam{{"user", "User id: an integer, or the user's name (string id) for a model trained on a categorical user field.", "string", true}, {"k", "How many items (1 to 1000, default 10).", "integer", false},
				{"exclude_seen", "Leave out the items the user rated in training.", "boolean", false},
				{"fallback", "\"popular\": for a user not seen in training, the items rated most in training (scored by their " +
					"number of ratings; the answer says fallback: popular) instead of 404.", "string", false}},
			ok: "Recommendations", fail: []int{400, 404, 503}}
	}
	metaDoc := func(id, which string) opDoc {
		return opDoc{id: id, tag: "v2", summary: "Metadata of " + which + " (Model Metadata)", ok: "ModelMetadata", fail: []int{400, 404, 503}}
	}
	return []route{
		{http.MethodGet, "/v1/models", ScopeRead, false, s.listModels,
			opDoc{id: "listModels", tag: "native", summary: "List the served models", ok: "ModelList"}},
		{http.MethodGet, "/v1/models/:model", ScopeRead, false, s.describeModel,
			opDoc{id: "describeModel", tag: "native", summary: "Describe a model: versions, aliases, metrics, schema, load errors",
				ok: "ModelDetail", fail: []int{400, 404}}},
		{http.MethodPost, "/v1/models/:model/predict", ScopeRead, true, s.predict(refDefault, ""),
			predictDoc("predict", "the default version (the DefaultAlias when set, else the latest)")},
		{http.MethodPost, "/v1/models/:model/versions/:version/predict", ScopeRead, true, s.predict(refVersion, "version"),
			predictDoc("predictVersion", "a version (loaded on demand if it is neither the latest nor aliased)")},
		{http.MethodPost, "/v1/models/:model/aliases/:alias/predict", ScopeRead, true, s.predict(refAlias, "alias"),
			predictDoc("predictAlias", "the version an alias points at")},
		{http.MethodPut, "/v1/models/:model/aliases/:alias", ScopeAdmin, true, s.setAlias,
			opDoc{id: "setAlias", tag: "native", summary: "Point an alias at a version (promote)",
				desc: "Moves the alias in the registry and loads the version before answering.",
				body: "AliasRequest", ok: "AliasResponse", fail: []int{400, 404, 408, 413, 415, 503}}},
		{http.MethodGet, "/v1/models/:model/recommend", ScopeRead, true, s.recommendation(false, refDefault, ""),
			recommendDoc("recommend", "the default version")},
		{http.MethodGet, "/v1/models/:model/versions/:version/recommend", ScopeRead, true, s.recommendation(false, refVersion, "version"),
			recommendDoc("recommendVersion", "a version (loaded on demand if it is neither the latest nor aliased)")},
		{http.MethodGet, "/v1/models/:model/aliases/:alias/recommend", ScopeRead, true, s.recommendation(false, refAlias, "alias"),
			recommendDoc("recommendAlias", "the version an alias points at")},
		{http.MethodGet, "/v1/models/:model/similar", ScopeRead, true, s.recommendation(true, refDefault, ""),
			opDoc{id: "similarItems", tag: "native", summary: "Items similar to an item (ALS models)", ok: "Recommendations",
				fail:  []int{400, 404, 503},
				query: []queryParam{{"item", "Item id: an integer, or the item's name (string id) for a model trained on a categorical item field.", "string", true}, {"k", "How many items (1 to 1000, default 10).", "integer", false}}}},
		{http.MethodGet, "/v2", 0, false, s.v2ServerMetadata,
			opDoc{id: "serverMetadata", tag: "v2", summary: "Server Metadata", ok: "ServerMetadata"}},
		{http.MethodGet, "/v2/health/live", 0, false, s.v2Live,
			opDoc{id: "serverLive", tag: "v2", summary: "Server Live", ok: "ServerLive"}},
		{http.MethodGet, "/v2/health/ready", 0, false, s.v2Ready,
			opDoc{id: "serverReady", tag: "v2", summary: "Server Ready: every model has a loaded version", ok: "ServerReady",
				fail: []int{400}, desc: "200 when ready, 400 when not (the protocol's Health section: a 4xx means false)."}},
		{http.MethodGet, "/v2/models/:model", ScopeRead, true, s.v2ModelMetadata(refDefault), metaDoc("modelMetadata", "a model")},
		{http.MethodGet, "/v2/models/:model/versions/:version", ScopeRead, true, s.v2ModelMetadata(refVersion),
			metaDoc("modelVersionMetadata", "a model version")},
		{http.MethodGet, "/v2/models/:model/ready", ScopeRead, true, s.v2ModelReady(refDefault), readyDoc("modelReady", "a model")},
		{http.MethodGet, "/v2/models/:model/versions/:version/ready", ScopeRead, true, s.v2ModelReady(refVersion),
			readyDoc("modelVersionReady", "a model version")},
		{http.MethodPost, "/v2/models/:model/infer", ScopeRead, true, s.infer(refDefault), inferDoc("infer", "a model")},
		{http.MethodPost, "/v2/models/:model/versions/:version/infer", ScopeRead, true, s.infer(refVersion),
			inferDoc("inferVersion", "a model version")},
		{http.MethodGet, "/v1/registry/events", ScopeRead, false, echo.WrapHandler(s.hub),
			opDoc{id: "registryEvents", tag: "native", summary: "The registry changes made through this server, as server-sent events",
				desc: "A text/event-stream (package models/regevents): one \"change\" event per manifest change made through this " +
					"server (an alias moved by the admin API) with data {\"model\": NAME, \"revision\": N}, or \"reset\" when the client " +
					"must re-read the registry; Last-Event-ID resumes. flint serve --watch-url subscribes to it."}},
		{http.MethodGet, "/metrics", ScopeRead, false, s.serveMetrics(),
			opDoc{id: "metrics", tag: "operations", summary: "Prometheus metrics (text exposition format)"}},
		{http.MethodGet, "/openapi.json", 0, false, s.serveOpenAPI,
			opDoc{id: "openapi", tag: "operations", summary: "This document", ok: "OpenAPI"}},
	}
}

type j = map[string]any

func ref(name string) j { return j{"$ref": "#/components/schemas/" + name} }
func arr(items j) j     { return j{"type": "array", "items": items} }
func str(desc string) j { return j{"type": "string", "description": desc} }
func integer(desc string) j {
	return j{"type": "integer", "description": desc}
}

// object builds an object schema from name, schema pairs; names ending in
// '!' are required.
func object(desc string, props ...any) j {
	o := j{"type": "object"}
	if desc != "" {
		o["description"] = desc
	}
	p := j{}
	var req []string
	for i := 0; i+1 < len(props); i += 2 {
		name := props[i].(string)
		if name[len(name)-1] == '!' {
			name = name[:len(name)-1]
			req = append(req, name)
		}
		p[name] = props[i+1]
	}
	o["properties"] = p
	if len(req) > 0 {
		o["required"] = req
	}
	return o
}

var paramRE = regexp.MustCompile(`:([a-z]+)`)

// openAPIPath turns an echo path into an OpenAPI one (":model" → "{model}").
func openAPIPath(p string) string { return paramRE.ReplaceAllString(p, "{$1}") }

// openAPIDocument is the OpenAPI 3 description of the routes.
func openAPIDocument(routes []route) ([]byte, error) {
	paths := j{}
	for _, r := range routes {
		op := j{"operationId": r.doc.id, "summary": r.doc.summary, "tags": []string{r.doc.tag}}
		if r.doc.desc != "" {
			op["description"] = r.doc.desc
		}
		var params []j
		for _, m := range paramRE.FindAllStringSubmatch(r.path, -1) {
			params = append(params, j{"name": m[1], "in": "path", "required": true,
				"description": pathParams[m[1]], "schema": j{"type": "string"}})
		}
		for _, q := range r.doc.query {
			params = append(params, j{"name": q.name, "in": "query", "required": q.required,
				"description": q.desc, "schema": j{"type": q.typ}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if r.doc.body != "" {
			op["requestBody"] = j{"required": true, "content": j{"application/json": j{"schema": ref(r.doc.body)}}}
		}
		ok := j{"description": "OK"}
		if r.doc.ok != "" {
			ok["content"] = j{"application/json": j{"schema": ref(r.doc.ok)}}
		} else {
			ok["content"] = j{"text/plain": j{"schema": j{"type": "string"}}}
		}
		responses := j{"200": ok}
		fail := r.doc.fail
		if r.scope != 0 {
			fail = append(fail, 401, 403)
		}
		for _, code := range fail {
			responses[strconv.Itoa(code)] = j{"$ref": "#/components/responses/Error"}
		}
		op["responses"] = responses
		if r.scope != 0 {
			op["security"] = []j{{"bearer": []string{}}}
			op["x-flint-scope"] = r.scope.String()
		}
		p := openAPIPath(r.path)
		item, _ := paths[p].(j)
		if item == nil {
			item = j{}
			paths[p] = item
		}
		item[strings.ToLower(r.method)] = op
	}
	doc := j{
		"openapi": "3.0.3",
		"info": j{
			"title":   "Flint prediction server",
			"version": "1",
			"description": "The native API (/v1) and the KServe V2 / Open Inference Protocol REST API (/v2). " +
				"With tokens configured, routes marked x-flint-scope need Authorization: Bearer TOKEN of that scope " +
				"(admin tokens may do what read tokens do); the health routes are open.",
		},
		"tags": []j{
			{"name": "native", "description": "Flint's own API: rows as JSON objects, the feature pipeline runs on the server."},
			{"name": "v2", "description": "KServe V2 / Open Inference Protocol (REST)."},
			{"name": "operations", "description": "Metrics and this document."},
		},
		"paths": paths,
		"components": j{
			"securitySchemes": j{"bearer": j{"type": "http", "scheme": "bearer"}},
			"responses": j{"Error": j{"description": "An error: the V2 error object; native routes add the row and field at fault.",
				"content": j{"application/json": j{"schema": ref("Error")}}}},
			"schemas": schemas(),
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func schemas() j {
	num := j{"type": "number"}
	scalar := j{"oneOf": []j{{"type": "string"}, {"type": "number"}, {"type": "boolean"}}}
	row := j{"type": "object", "description": "A row: the schema's fields by name (numbers, strings, arrays for vector fields; " +
		"null or absent for optional fields). Only the fields the model's pipeline reads are required; the label, the weight and " +
		"other schema fields it does not read may be given and are ignored (refused when the server is strict about fields); " +
		"names not in the schema are errors. A number given for a categorical field is the category of its canonical text " +
		"(7.0 and 7 are \"7\", 1e2 is \"100\"), as in training; a string is taken as written.",
		"additionalProperties": true}
	params := j{"type": "object", "description": "Parameters: string, number or boolean values. None is defined; they are checked and ignored.",
		"additionalProperties": scalar}
	tensorMeta := object("", "name!", str("Tensor name."), "datatype!", str("Tensor data type."),
		"shape!", arr(integer("Size; -1 is variable.")))
	return j{
		"Error": object("", "error!", str("What is wrong."),
			"row", integer("Native routes: the row at fault."), "field", str("Native routes: the field at fault.")),
		"PredictRequest": object(`Give "rows" or "row".`, "rows", arr(row), "row", row),
		"PredictResponse": object("",
			"model!", str("Model name."), "version!", integer("The version that predicted."),
			"classes", arr(str("Class names of a classifier, in index order.")),
			"predictions!", arr(ref("Prediction"))),
		"Prediction": object("One per row, in input order. Classifiers give class and index, and probabilities when they have them (a linear SVM has none); "+
			"regressors value; clustering models cluster.",
			"class", str("Predicted class name."), "index", integer("Predicted class index."),
			"probabilities", arr(num), "value", j{"type": "number", "description": "Predicted value (always finite: a row whose prediction is not gets 422)."},
			"cluster", integer("Cluster index."),
			"row", integer("(user, item) models (ALS: rows {\"user\": id, \"item\": id}, integers or, for a side trained on string ids, "+
				"names (V2: BYTES tensors); scored by the dot product of their factors, plus the mean rating and both biases for a model "+
				"trained with biases, clipped to the training range of explicit ratings): the request's row this score is for. A pair whose user or item "+
				"training did not see is left out under the model's cold-start strategy drop, and refused (422) under nan.")),
		"ModelList": object("", "models!", arr(ref("ModelSummary"))),
		"ModelSummary": object("", "name!", str(""), "versions!", arr(j{"type": "integer"}), "latest!", integer(""),
			"aliases!", j{"type": "object", "additionalProperties": j{"type": "integer"}},
			"serving!", integer("The version the unversioned routes serve; 0 when none is loaded."),
			"ready!", j{"type": "boolean"}),
		"ModelDetail": object("",
			"name!", str(""), "revision!", integer("Manifest revision."), "ready!", j{"type": "boolean"},
			"latest!", integer(""), "aliases!", j{"type": "object", "additionalProperties": j{"type": "integer"}},
			"serving!", j{"type": "object", "additionalProperties": j{"type": "integer"},
				"description": `The version "default", "latest" and each alias serve now (older ones stay while a newer one fails to load).`},
			"versions!", arr(ref("VersionDetail")),
			"algorithm", str("Of the default version."), "output", str("regression, classification, clustering or recommendation."),
			"features", integer("Feature vector length."), "classes", arr(j{"type": "string"}),
			"schema", j{"type": "object", "description": "The feature schema (fields with name, type, dim, optional; label; classes)."}),
		"VersionDetail": object("", "version!", integer(""), "created!", j{"type": "string", "format": "date-time"},
			"published!", j{"type": "string", "format": "date-time"}, "algorithm!", str(""), "size!", integer("Artefact bytes."),
			"metrics", j{"type": "object", "additionalProperties": j{"oneOf": []j{num, {"type": "string", "enum": []string{"NaN", "+Inf", "-Inf"}}}}},
			"loaded!", j{"type": "boolean"}, "load_error", str("Why the version failed to load.")),
		"AliasRequest":  object("", "version!", integer("The version the alias should point at.")),
		"AliasResponse": object("", "model!", str(""), "alias!", str(""), "version!", integer(""), "loaded!", j{"type": "boolean"}),
		"Recommendations": object("", "model!", str(""), "version!", integer(""), "user", str(""), "item", str(""),
			"fallback", str(`"popular" when the user was not seen in training and fallback=popular was asked.`),
			"items!", arr(object("", "id!", str("Item id."), "score!", num))),
		"ServerMetadata": object("Server Metadata Response JSON Object.", "name!", str(""), "version!", str(""), "extensions!", arr(j{"type": "string"})),
		"ServerLive":     object("Server Live Response JSON Object.", "live!", j{"type": "boolean"}),
		"ServerReady":    object("Server Ready Response JSON Object.", "ready!", j{"type": "boolean"}),
		"ModelReady": object("Model Ready Response JSON Object, with Flint's additions.", "name!", str(""), "ready!", j{"type": "boolean"},
			"version", str("The version that serves."), "error", str("Why it is not ready."),
			"load_errors", j{"type": "object", "additionalProperties": j{"type": "string"}, "description": "Versions that failed to load."}),
		"MetadataTensor": tensorMeta,
		"ModelMetadata": object("Model Metadata Response JSON Object.", "name!", str(""), "versions", arr(j{"type": "string"}),
			"platform!", str(`"flint_" and the algorithm.`), "inputs!", arr(ref("MetadataTensor")), "outputs!", arr(ref("MetadataTensor"))),
		"Parameters": params,
		"InferenceRequest": object("Inference Request JSON Object.", "id", str("Echoed in the response."),
			"parameters", ref("Parameters"), "inputs!", arr(ref("RequestInput")), "outputs", arr(ref("RequestOutput"))),
		"RequestInput": object("Request Input: one tensor per schema field.", "name!", str("The field name."),
			"shape!", arr(j{"type": "integer"}), "datatype!", str("BOOL, UINT8-64, INT8-64, FP16, FP32, FP64 or BYTES."),
			"parameters", ref("Parameters"), "data!", j{"type": "array", "description": "Row-major, flat or nested.", "items": j{}}),
		"RequestOutput": object("Request Output.", "name!", str(`"predict" or "probabilities".`), "parameters", ref("Parameters")),
		"InferenceResponse": object("Inference Response JSON Object.", "model_name!", str(""), "model_version", str(""),
			"id", str(""), "parameters", ref("Parameters"), "outputs!", arr(ref("ResponseOutput"))),
		"ResponseOutput": object("Response Output.", "name!", str(""), "shape!", arr(j{"type": "integer"}), "datatype!", str(""),
			"parameters", ref("Parameters"), "data!", j{"type": "array", "items": j{}}),
		"OpenAPI": j{"type": "object", "description": "An OpenAPI 3 document."},
	}
}
