// Flint console: live fragments over server-sent events, and sortable tables.
// Each message's first line names the element to replace; the rest is its new HTML.
(function () {
  "use strict";
  var url = document.body.dataset.events;
  if (url) {
    var es = new EventSource(url);
    es.onmessage = function (ev) {
      var nl = ev.data.indexOf("\n");
      var el = document.getElementById(ev.data.slice(0, nl));
      if (el) { el.innerHTML = ev.data.slice(nl + 1); }
    };
    es.addEventListener("end", function () { es.close(); location.reload(); });
  }
  function key(td) {
    var v = td.dataset.v !== undefined ? td.dataset.v : td.textContent.trim();
    return /^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(v) ? parseFloat(v) : v;
  }
  document.addEventListener("click", function (ev) {
    var th = ev.target.closest("table.sortable th");
    if (!th) { return; }
    var table = th.closest("table"), col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var dir = th.dataset.dir === "asc" ? "desc" : "asc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = dir;
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      var c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return dir === "asc" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
})();
