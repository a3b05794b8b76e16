// Tollgate console: live decisions over server-sent events, the filter
// applied as you type, and the rate-limit fields shown only when they
// apply. Every page works without it. Text from the audit trail is put in
// the page with textContent only, never as HTML.
"use strict";

(function () {
  const page = document.body.dataset.page;

  if (page === "rules") {
    for (const form of document.querySelectorAll("form.rule")) {
      const kind = form.querySelector("select[name=kind]");
      const rate = form.querySelector(".rate");
      const sync = () => { rate.hidden = kind.value !== "rate_limit"; };
      kind.addEventListener("change", sync);
      sync();
    }
  }

  if (page !== "decisions") return;
  const table = document.querySelector("#decisions tbody");
  const empty = document.getElementById("empty");
  const live = document.getElementById("live");
  const form = document.getElementById("filters");
  const field = (n) => form.elements[n].value.trim();

  function matches(tr) {
    const tool = field("tool").toLowerCase(), dec = field("decision"), q = field("q").toLowerCase();
    if (tool && tr.dataset.tool.toLowerCase() !== tool) return false;
    if (dec && tr.dataset.decision !== dec) return false;
    if (q && !tr.textContent.toLowerCase().includes(q)) return false;
    return true;
  }
  function applyFilter() {
    let shown = 0;
    for (const tr of table.rows) { tr.hidden = !matches(tr); if (!tr.hidden) shown++; }
    empty.hidden = shown > 0;
  }
  for (const el of form.elements) {
    el.addEventListener("input", applyFilter);
    el.addEventListener("change", applyFilter);
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); applyFilter(); });

  function cell(tr, text, cls, code) {
    const td = tr.insertCell();
    if (cls) td.className = cls;
    if (code) { const c = document.createElement("code"); c.textContent = text; td.appendChild(c); }
    else td.textContent = text;
    return td;
  }
  const short = (s, n) => (s && s.length > n ? s.slice(0, n) + "…" : s || "");
  const hhmmss = (t) => { const d = new Date(t); return isNaN(d) ? "" : d.toTimeString().slice(0, 8); };

  function add(d) {
    const tr = table.insertRow(0);
    tr.dataset.tool = d.tool || "";
    tr.dataset.decision = d.decision || "";
    tr.className = "fresh";
    cell(tr, hhmmss(d.time), "nowrap");
    cell(tr, short(d.instance, 10), "", true);
    if (d.identity) cell(tr, d.identity); else cell(tr, short(d.session, 10), "", true);
    cell(tr, d.tool, "", true);
    const td = tr.insertCell();
    const pill = document.createElement("span");
    pill.className = "pill d-" + (d.decision || "").replace(/[^a-z_]/g, "");
    pill.textContent = d.decision + (d.monitor ? " (monitor)" : "");
    td.appendChild(pill);
    if (d.outcome) { const s = document.createElement("small"); s.className = "muted"; s.textContent = " " + d.outcome; td.appendChild(s); }
    cell(tr, d.rule || "");
    cell(tr, d.reason || "", "reason");
    tr.hidden = !matches(tr);
    if (!tr.hidden) empty.hidden = true;
    while (table.rows.length > 500) table.deleteRow(-1);
  }

  const es = new EventSource("/events?after=" + encodeURIComponent(live.dataset.after || "0"));
  es.onopen = () => { live.hidden = false; };
  es.onerror = () => { live.hidden = true; };
  es.onmessage = (e) => { try { add(JSON.parse(e.data)); } catch (_) { /* skip a bad line */ } };
  applyFilter();
})();
