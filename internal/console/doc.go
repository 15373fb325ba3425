// Package console is Flint's web console: jobs with their live loss
// curves, models with their versions and alias history, and the log's
// topics, consumer groups and records, in a browser.
//
// # Design
//
// A Console is an http.Handler mounted under a prefix ("/console/") of
// the server it sits in: flint driver mounts it beside the job API, over
// the driver's job Manager, model registry and log. It reads only what
// those expose, through the narrow interfaces Jobs, Models and Log; every
// iteration of a job is recorded by Curves, the observer the Manager calls
// (jobs.ManagerConfig.Observe), since a job record keeps only its latest.
//
// Pages are rendered on the server with html/template from assets embedded
// in the binary (embed): hand-written HTML, CSS and 40 lines of script, no
// CDN and no build step, so the console works on an air-gapped network.
// Charts are inline SVG drawn on the server (svg.go): a loss curve of a few
// thousand points is a polyline of a few tens of kilobytes, a live update
// is the chart's markup sent again, and no chart library has to be vendored,
// pinned and kept up to date.
//
// # Live updates
//
// Live pages name a server-sent events URL (body data-events). Each message
// is an element id, a newline and that element's new HTML; console.js puts
// it in place. A running job's page gets its status and charts at every
// change of the job or new iteration, at most ten times a second, rendered
// once for all the pages that follow the job (liverender.go); the jobs
// list is checked every Config.Poll and sent when it changed. When the job
// ends the stream sends "end" and the page reloads, with the result, grid
// table and lineage.
//
// # Authentication
//
// The console takes the same bearer tokens as the APIs beside it
// (internal/bearer): a login page keeps the token in an HTTP-only,
// SameSite=Strict cookie; an Authorization: Bearer header works too. A
// browser without a valid token is sent to the login page and sees no
// data. A read token sees every page; cancelling a job and moving an alias
// need an admin token: the buttons are left out for a read token, and the
// routes answer 403. Promoting asks for a reason, which the registry keeps
// in the model's alias history with the actor "console (admin token)".
// With no token configured the console is open, as the APIs are then.
package console
