// The dashboard's front end: renders the page named by <body data-page>
// from the JSON API and keeps it live from /api/events (server-sent
// events of the shared poller's snapshots). No dependencies.
"use strict";

const body = document.body;
const PAGE = body.dataset.page;
const SEARCH = body.dataset.id;
const ADMIN = body.dataset.admin === "true";
const app = document.getElementById("app");

// ---------------------------------------------------------------- helpers

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
}
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}
const num = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d));
const int = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en"));
function dur(s) {
  if (s === null || s === undefined) return "–";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
const when = (ms) => (ms ? new Date(ms).toLocaleString("en-GB") : "–");
function flash(text, bad) {
  const f = document.getElementById("flash");
  f.textContent = text;
  f.className = bad ? "flash error" : "flash";
  f.hidden = false;
}

// ------------------------------------------------------------ admin token

const TOKEN_KEY = "nas-admin-token";
const token = () => sessionStorage.getItem(TOKEN_KEY);
function showLogin() {
  document.getElementById("login").hidden = !ADMIN || !!token();
  document.getElementById("who").hidden = !token();
}
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const t = document.getElementById("token").value;
  const r = await fetch("/api/login", { method: "POST", headers: { Authorization: `Bearer ${t}` } });
  if (r.status === 204) {
    sessionStorage.setItem(TOKEN_KEY, t);
    document.getElementById("token").value = "";
    flash("Logged in: actions are enabled.");
  } else {
    flash((await r.json()).error, true);
  }
  showLogin();
});
document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
});
async function act(url, what) {
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  const r = await fetch(url, { method: "POST", headers });
  const doc = await r.json();
  if (r.ok) flash(what(doc));
  else flash(`Refused: ${doc.error}`, true);
  return r.ok;
}

// -------------------------------------------------------------- the feed

let snapshot = null;
function connect() {
  const live = document.getElementById("live");
  const es = new EventSource("/api/events");
  es.addEventListener("snapshot", (ev) => {
    live.classList.add("on");
    snapshot = JSON.parse(ev.data);
    onSnapshot(snapshot);
  });
  es.onerror = () => live.classList.remove("on");
}

// ------------------------------------------------------------------ plots

// A scatter (and lines) on linear axes; `xs`/`ys` pick the coordinates.
function plot({ title, id, points, lines, xs, ys, xlabel, ylabel, logx }) {
  const W = 560, H = 300, L = 52, R = 12, T = 12, B = 36;
  const all = points.concat(...lines.map((l) => l.points));
  const fx = (p) => (logx ? Math.log10(Math.max(1, xs(p))) : xs(p));
  let [x0, x1] = [Math.min(...all.map(fx)), Math.max(...all.map(fx))];
  let [y0, y1] = [Math.min(...all.map(ys)), Math.max(...all.map(ys))];
  if (!all.length) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 1; y1 += 1; }
  const X = (v) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => H - B - ((v - y0) / (y1 - y0)) * (H - T - B);
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, id });
  s.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  s.append(svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  for (let k = 0; k <= 4; k++) {
    const yv = y0 + ((y1 - y0) * k) / 4, xv = x0 + ((x1 - x0) * k) / 4;
    const ty = svg("text", { class: "tick", x: L - 4, y: Y(yv) + 3, "text-anchor": "end" });
    ty.textContent = yv.toFixed(1);
    const tx = svg("text", { class: "tick", x: X(xv), y: H - B + 14, "text-anchor": "middle" });
    tx.textContent = logx ? `1e${xv.toFixed(1)}` : Math.round(xv).toLocaleString("en");
    s.append(ty, tx);
  }
  const lx = svg("text", { class: "tick", x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" });
  lx.textContent = xlabel;
  const ly = svg("text", { class: "tick", x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, "text-anchor": "middle" });
  ly.textContent = ylabel;
  s.append(lx, ly);
  const g = svg("g", { class: "points" });
  for (const p of points) {
    const c = svg("circle", { class: "pt", cx: X(fx(p)).toFixed(1), cy: Y(ys(p)).toFixed(1), r: 2.6 });
    const t = svg("title", {});
    t.textContent = `#${p.i}: ${num(p.acc)}${p.params ? `, ${int(p.params)} params` : ""}`;
    c.append(t);
    g.append(c);
  }
  s.append(g);
  for (const l of lines) {
    const d = l.points.map((p, k) => `${k ? "L" : "M"}${X(fx(p)).toFixed(1)},${Y(ys(p)).toFixed(1)}`).join("");
    if (d) s.append(svg("path", { class: l.class, d, stroke: l.color || "" }));
  }
  return el("div", { class: "plot" }, el("div", { class: "title", text: title }), s);
}

// A best-so-far series as steps out to `end`.
function steps(best, end, key) {
  const out = [];
  best.forEach((p, k) => {
    if (k) out.push({ ...p, [key]: p[key], acc: best[k - 1].acc });
    out.push(p);
  });
  if (best.length) out.push({ ...best[best.length - 1], [key]: Math.max(end, best[best.length - 1][key]) });
  return out;
}

// ----------------------------------------------------------- searches page

let filterState = "all";
function searchesPage() {
  app.replaceChildren(
    el("h1", { text: "Searches" }),
    el("p", {}, "Show ",
      el("select", { id: "filter", onchange: (e) => { filterState = e.target.value; renderSearches(); } },
        ...["all", "running", "done", "cancelled", "failed"].map((s) => el("option", { value: s, text: s })))),
    el("div", { id: "searches" }, el("p", { class: "muted", text: "Waiting for the first poll…" })));
}
function renderSearches() {
  if (!snapshot) return;
  const rows = snapshot.searches.filter((r) => filterState === "all" || r.status === filterState);
  const head = ["search", "tag", "state", "strategy", "space", "evaluated", "queued", "leased", "failed", "best", "rate /s", "ETA", "started"];
  const numeric = new Set(["evaluated", "queued", "leased", "failed", "best", "rate /s"]);
  const table = el("table", { id: "searches-table" },
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { class: numeric.has(h) ? "num" : "", text: h })))),
    el("tbody", {}, ...rows.map((r) => el("tr", { "data-id": r.id },
      el("td", {}, el("a", { href: `/searches/${encodeURIComponent(r.id)}`, text: r.id })),
      el("td", { text: r.name || "" }),
      el("td", { class: `status-${r.status}`, text: r.status, title: r.reason || "" }),
      el("td", { text: r.strategy }),
      el("td", { text: r.space }),
      el("td", { class: "num evaluated", text: `${r.evaluated} / ${r.budget}` }),
      el("td", { class: "num", text: r.counts.queued + r.counts.delayed }),
      el("td", { class: "num", text: r.counts.leased }),
      el("td", { class: "num", text: r.failed }),
      el("td", { class: "num", text: num(r.best) }),
      el("td", { class: "num", text: num(r.rate, 2) }),
      el("td", { text: r.status === "running" ? dur(r.eta_s) : "–" }),
      el("td", { text: when(r.created_ms) })))));
  const box = document.getElementById("searches");
  box.replaceChildren(rows.length ? table : el("p", { class: "muted", id: "no-searches", text: "No searches under this prefix yet." }));
}

// ------------------------------------------------------------- search page

let detail = null;
let lastSeen = null;
const table = { sort: "index", desc: false, offset: 0, limit: 50 };

function searchPage() {
  app.replaceChildren(el("h1", {}, "Search ", el("span", { text: SEARCH })), el("div", { id: "search" }, el("p", { class: "muted", text: "Loading…" })));
  loadSearch();
}
async function loadSearch() {
  const r = await fetch(`/api/searches/${encodeURIComponent(SEARCH)}`);
  const doc = await r.json();
  if (!r.ok) {
    document.getElementById("search").replaceChildren(el("p", { class: "flash error", id: "not-found", text: doc.error }));
    return;
  }
  detail = doc;
  renderSearch();
  loadTable();
}
function onSearchSnapshot(s) {
  const row = s.searches.find((r) => r.id === SEARCH);
  const key = row ? `${row.updated_ms}/${row.evaluated}/${row.failed}/${row.status}/${JSON.stringify(s.notes[SEARCH] || [])}` : null;
  if (key !== lastSeen) {
    lastSeen = key;
    if (detail) loadSearch();
  }
}
function renderSearch() {
  const d = detail, r = d.row || {}, series = d.series;
  const box = document.getElementById("search");
  const cards = el("div", { class: "cards" },
    ...[["state", el("span", { class: `status-${r.status}`, id: "status", text: r.status || "?" })],
      ["evaluated", el("span", { id: "evaluated", text: `${r.evaluated ?? "?"} / ${r.budget ?? "?"}` })],
      ["failed", r.failed], ["queued", r.counts ? r.counts.queued + r.counts.delayed : "–"], ["leased", r.counts ? r.counts.leased : "–"],
      ["best", el("span", { id: "best", text: num(r.best) })], ["rate /s", num(r.rate)], ["ETA", r.status === "running" ? dur(r.eta_s) : "–"],
      ["strategy", r.strategy], ["space", r.space], ["started", when(r.created_ms)]]
      .map(([k, v]) => el("div", { class: "card" }, el("div", { class: "k", text: k }), el("div", { class: "v" }, String(v ?? "–") === v ? v : v))));
  const parts = [cards];
  if (r.reason) parts.push(el("p", { class: "flash error", text: `failed: ${r.reason}` }));
  if (r.status === "running") {
    parts.push(el("p", {}, el("button", { class: "danger", id: "cancel", type: "button", onclick: () =>
      act(`/api/searches/${encodeURIComponent(SEARCH)}/cancel`, (x) => `Search ${x.cancelled} cancelled (${x.dropped} queued jobs dropped).`) }, "Cancel search")));
  }
  const pts = series.points, end = pts.length ? pts[pts.length - 1].i : 0;
  const plots = el("div", { class: "plots" },
    plot({ title: `Every evaluation and the best so far (${series.evaluations}${series.downsampled ? `, ${pts.length} drawn` : ""})`, id: "plot-evals",
      points: pts, lines: [{ class: "best", points: steps(series.best, end, "i") }], xs: (p) => p.i, ys: (p) => p.acc, xlabel: "evaluation", ylabel: "validation score" }),
    plot({ title: "Best so far against time", id: "plot-time", points: [],
      lines: [{ class: "best", points: steps(series.best, pts.length ? Math.max(...pts.map((p) => p.t)) : 0, "t").map((p) => ({ ...p, t: (p.t - r.created_ms) / 1000 })) }],
      xs: (p) => p.t, ys: (p) => p.acc, xlabel: "seconds since submission", ylabel: "best validation score" }));
  const withParams = pts.filter((p) => p.params);
  if (withParams.length) {
    plots.append(plot({ title: "Score against parameters, with the Pareto front", id: "plot-params", points: withParams,
      lines: [{ class: "front", points: series.front }], xs: (p) => p.params, ys: (p) => p.acc, xlabel: "parameters (log)", ylabel: "validation score", logx: true }));
  }
  parts.push(el("h2", { text: "Progress" }), plots);
  if (d.best) {
    parts.push(el("h2", { text: "Best cell" }),
      el("p", {}, el("code", { id: "best-genotype", text: d.best.genotype })),
      el("div", { class: "cell" }, el("img", { id: "best-cell", alt: "the best cell", src: `/api/searches/${encodeURIComponent(SEARCH)}/cell.svg?at=${d.best.index}` })));
  }
  if (series.levels.length) {
    parts.push(el("h2", { text: "Accuracy per level (blocks per cell)" }), el("table", { id: "levels" },
      el("thead", {}, el("tr", {}, ...["blocks", "candidates", "best", "mean"].map((h) => el("th", { text: h })))),
      el("tbody", {}, ...series.levels.map((l) => el("tr", {}, el("td", { text: l.blocks }), el("td", { text: l.count }), el("td", { text: num(l.best) }), el("td", { text: num(l.mean) }))))));
  }
  for (const [job, seen] of Object.entries(d.alphas)) parts.push(...alphas(job, seen));
  if (d.notes.length) {
    parts.push(el("h2", { text: "Running jobs" }), el("table", { id: "notes" }, el("tbody", {}, ...d.notes.map((n) =>
      el("tr", {}, el("td", { text: n.job_id }), el("td", { text: n.stage }), el("td", { class: "geno", text: n.genotype }), el("td", { text: noteText(n.note) }))))));
  }
  if (d.finals.length || d.final_started) {
    parts.push(el("h2", { text: "Final stage" }), el("table", { id: "finals" }, el("tbody", {}, ...d.finals.map((f) => {
      const s = f.outcome.ok || {};
      return el("tr", {}, el("td", { class: "geno", text: f.genotype }), el("td", { text: `val ${num(s.val_acc)}` }), el("td", { text: `test ${num(s.test_acc)}` }), el("td", { text: s.params ? `${int(s.params)} params` : "" }));
    }))));
  }
  parts.push(el("p", { class: "muted" }, "Export the winner, its weights and pictures: ", el("code", { text: d.export })));
  parts.push(el("h2", {}, "Evaluations ", el("a", { id: "csv", href: `/api/searches/${encodeURIComponent(SEARCH)}/evaluations.csv`, text: "CSV" })),
    el("div", { id: "evaluations" }));
  const old = document.getElementById("evaluations");
  box.replaceChildren(...parts);
  // When the plots first showed (scripts/dashboard-page-load.py reads it).
  if (!performance.getEntriesByName("nas:search-drawn").length) performance.mark("nas:search-drawn");
  if (old && old.firstChild) document.getElementById("evaluations").replaceWith(old);
}
function noteText(n) {
  if (!n) return "";
  if (n.kind === "train") return `step ${n.step}/${n.steps}, loss ${num(n.loss, 3)}`;
  if (n.kind === "darts") return `epoch ${n.epoch}/${n.epochs}, cell now ${n.genotype}`;
  return JSON.stringify(n);
}
// α per edge over the epochs this dashboard saw: the strongest op's
// softmax weight per edge, one line per edge; and the current cell.
function alphas(job, seen) {
  const last = seen[seen.length - 1];
  const out = [el("h2", { text: `DARTS α over epochs (${job})` }), el("p", {}, "Cell now: ", el("code", { id: "darts-cell", text: last.genotype }))];
  const colors = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d", "#475569", "#b45309", "#0f766e", "#7c3aed", "#1d4ed8", "#15803d"];
  const plots = el("div", { class: "plots" });
  for (const [cell, rows] of Object.entries(last.alphas)) {
    const lines = rows.map((_, e) => ({ class: "alpha", color: colors[e % colors.length],
      points: seen.map((s) => ({ i: s.epoch, acc: Math.max(...(s.alphas[cell] || [])[e] || [0]) })) }));
    plots.append(plot({ title: `${cell}: strongest op weight per edge`, id: `alpha-${cell}`, points: [], lines, xs: (p) => p.i, ys: (p) => p.acc, xlabel: "epoch", ylabel: "softmax(α)" }));
  }
  out.push(plots);
  return out;
}
async function loadTable() {
  const q = new URLSearchParams({ sort: table.sort, order: table.desc ? "desc" : "asc", offset: table.offset, limit: table.limit });
  const r = await fetch(`/api/searches/${encodeURIComponent(SEARCH)}/evaluations?${q}`);
  if (!r.ok) return;
  const page = await r.json();
  const cols = [["index", "#"], ["stage"], ["genotype"], ["outcome"], ["val_acc", "val"], ["test_acc", "test"], ["params"], ["train_seconds", "train s"], ["worker"], ["attempt"], ["finished"]];
  const sortable = new Set(["index", "val_acc", "test_acc", "params", "train_seconds", "worker", "attempt"]);
  const head = cols.map(([k, label]) => el("th", {
    class: `${sortable.has(k) ? "sortable" : ""} ${table.sort === k ? `sorted ${table.desc ? "" : "asc"}` : ""}`, "data-sort": k, text: label || k,
    onclick: sortable.has(k) ? () => { table.desc = table.sort === k ? !table.desc : k !== "index" && k !== "worker"; table.sort = k; table.offset = 0; loadTable(); } : null,
  }));
  const rows = page.rows.map((e) => el("tr", {}, el("td", { class: "num", text: e.index }), el("td", { text: e.stage }), el("td", { class: "geno", text: e.genotype }),
    el("td", { text: e.outcome, title: e.reason || "" }), el("td", { class: "num", text: num(e.val_acc) }), el("td", { class: "num", text: num(e.test_acc) }),
    el("td", { class: "num", text: int(e.params) }), el("td", { class: "num", text: num(e.train_seconds, 1) }), el("td", { text: e.worker }),
    el("td", { class: "num", text: e.attempt }), el("td", { text: when(e.finished_ms) })));
  const last = Math.min(page.offset + page.rows.length, page.total);
  const pager = el("div", { class: "pager" },
    el("button", { type: "button", id: "prev", disabled: page.offset === 0, onclick: () => { table.offset = Math.max(0, table.offset - table.limit); loadTable(); } }, "‹ Previous"),
    el("span", { id: "range", text: `${page.total ? page.offset + 1 : 0}–${last} of ${page.total}` }),
    el("button", { type: "button", id: "next", disabled: last >= page.total, onclick: () => { table.offset += table.limit; loadTable(); } }, "Next ›"));
  const box = document.getElementById("evaluations");
  if (box) box.replaceChildren(pager, el("table", { id: "evaluations-table" }, el("thead", {}, el("tr", {}, ...head)), el("tbody", {}, ...rows)));
  if (box && !performance.getEntriesByName("nas:table-drawn").length) performance.mark("nas:table-drawn");
}

// --------------------------------------------------------------- fleet page

function fleetPage() {
  app.replaceChildren(el("h1", { text: "Fleet" }), el("div", { id: "fleet" }, el("p", { class: "muted", text: "Waiting for the first poll…" })));
}
function renderFleet() {
  if (!snapshot) return;
  const f = snapshot.fleet;
  const workers = el("table", { id: "workers" },
    el("thead", {}, el("tr", {}, ...["worker", "kind", "host", "device", "slots busy", "heartbeat", "jobs"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...f.workers.map((w) => {
      const c = w.card || {};
      const busy = c.jobs ? c.jobs.length : 0;
      return el("tr", { "data-id": w.id }, el("td", { text: w.id }), el("td", { text: c.kind || "?" }), el("td", { text: c.host || "" }), el("td", { text: c.device || "" }),
        el("td", {}, `${busy} / ${c.slots ?? "?"} `, el("span", { class: "bar", style: `width:${c.slots ? (40 * busy) / c.slots : 0}px` })),
        el("td", { text: `${w.age_s.toFixed(1)} s ago` }),
        el("td", {}, ...w.jobs.map((j) => el("div", {}, el("code", { text: j.job_id }), " ", el("span", { class: "muted", text: noteText(j.note) })))));
    })));
  const depths = snapshot.searches.filter((r) => r.status === "running");
  const queues = el("table", { id: "depths" },
    el("thead", {}, el("tr", {}, ...["search", "queued", "delayed", "leased", "done", "dead"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...depths.map((r) => el("tr", {}, el("td", {}, el("a", { href: `/searches/${encodeURIComponent(r.id)}`, text: r.id })),
      ...[r.counts.queued, r.counts.delayed, r.counts.leased, r.counts.done, r.counts.dead].map((v) => el("td", { class: "num", text: v }))))));
  const dead = el("table", { id: "dead-letters" },
    el("thead", {}, el("tr", {}, ...["job", "search", "attempts", "reason", ""].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...f.dead_letters.map((d) => el("tr", { "data-job": d.job_id }, el("td", { text: d.job_id }), el("td", { text: d.search_id }), el("td", { class: "num", text: d.attempt }),
      el("td", { class: "geno", text: d.reason }),
      el("td", {}, el("button", { type: "button", class: "replay", onclick: () => act(`/api/dead-letters/${encodeURIComponent(d.job_id)}/replay`, (x) => `Job ${x.replayed} queued again.`) }, "Replay"))))));
  const replicas = el("table", { id: "surrogates" },
    el("thead", {}, el("tr", {}, ...["replica", "heartbeat"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...f.surrogates.map((r) => el("tr", { "data-id": r.id }, el("td", { text: r.id }), el("td", { text: `${r.age_s.toFixed(1)} s ago` })))));
  document.getElementById("fleet").replaceChildren(
    el("div", { class: "cards" }, ...[["trainers alive", f.workers.length], ["surrogate replicas", f.surrogates.length], ["queued", f.queued + f.delayed], ["leased", f.leased], ["dead letters", f.dead_letter_count]]
      .map(([k, v]) => el("div", { class: "card" }, el("div", { class: "k", text: k }), el("div", { class: "v", text: v })))),
    el("h2", { text: "Trainers" }), f.workers.length ? workers : el("p", { class: "muted", id: "no-workers", text: "No trainer has sent a heartbeat in the last 10 s." }),
    el("h2", { text: "Surrogate replicas" }), f.surrogates.length ? replicas : el("p", { class: "muted", id: "no-surrogates", text: "No surrogate replica has said it is alive in the last 10 s (the embedded mode ranks in process)." }),
    el("h2", { text: "Queue depth per running search" }), queues,
    el("h2", { text: `Dead letters (${f.dead_letter_count})` }), dead);
}

// ------------------------------------------------------------------ wiring

function onSnapshot(s) {
  if (s.error) flash(`Redis: ${s.error} (showing the last good poll)`, true);
  if (PAGE === "searches") renderSearches();
  else if (PAGE === "fleet") renderFleet();
  else if (PAGE === "search") onSearchSnapshot(s);
}
showLogin();
if (PAGE === "searches") searchesPage();
else if (PAGE === "fleet") fleetPage();
else if (PAGE === "search") searchPage();
connect();
