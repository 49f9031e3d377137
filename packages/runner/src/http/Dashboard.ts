/**
 * The dashboard page served at `/`: one self-contained HTML document (inline
 * CSS and JavaScript, no build step, no external assets) that polls
 * `/api/stats` every second and draws throughput, success rate, failures by
 * reason, end-to-end latency and consumer lag per partition, with small SVG
 * sparklines of the last few minutes, then the panels the running job
 * registers (see `Spec`): lookup latency, cache hit ratio and breaker state
 * are such panels. Rates are computed in the page from successive counter
 * totals. The script runs in the browser, which is why it uses the browser's
 * own timers.
 *
 * @since 0.1.0
 */
import type * as Stats from "./Stats.ts"

/**
 * A panel a job adds to the page: its title, its HTML body, and a script
 * statement that fills it from `s` (the `/api/stats` JSON). The statement can
 * use the page's helpers: `$(id)`, `fmt(n, digits)`, `pct(ratio)`,
 * `rows(table, entries)`, `latency(table, l)`, `push(array, v)`, `esc(text)`,
 * `spark(svg, values)` and the `history` object.
 *
 * @since 0.1.0
 * @category models
 */
export interface Panel {
  readonly title: string
  readonly body: string
  readonly render: string
}

/**
 * What a job registers for the dashboard: the outcomes its success rate is
 * read from and its own panels.
 *
 * @since 0.1.0
 * @category models
 */
export interface Spec {
  readonly outcomes: Stats.Outcomes
  readonly panels: ReadonlyArray<Panel>
}

/**
 * A page with the common panels only.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: Spec = { outcomes: { outputs: [], success: [] }, panels: [] }

/**
 * The dashboards of several jobs served by one process, together.
 *
 * @since 0.1.0
 * @category combinators
 */
export const combine = (specs: ReadonlyArray<Spec>): Spec => {
  const seen = new Set<string>()
  const panels: Array<Panel> = []
  for (const panel of specs.flatMap((spec) => spec.panels)) {
    if (!seen.has(panel.title)) panels.push(panel)
    seen.add(panel.title)
  }
  return {
    outcomes: {
      outputs: [...new Set(specs.flatMap((spec) => spec.outcomes.outputs))],
      success: [...new Set(specs.flatMap((spec) => spec.outcomes.success))]
    },
    panels
  }
}

/**
 * Lookup latency percentiles (`sluice_lookup_latency_ms`).
 *
 * @since 0.1.0
 * @category panels
 */
export const lookupLatency: Panel = {
  title: "Lookup latency (ms)",
  body: '<table id="latency-lookup"></table>',
  render: 'latency($("latency-lookup"), s.lookupLatencyMs);'
}

/**
 * Lookup cache hit ratio, hits and misses.
 *
 * @since 0.1.0
 * @category panels
 */
export const cacheHitRatio: Panel = {
  title: "Cache hit ratio",
  body: `<div class="big" id="cache-hit-ratio">–</div>
    <div class="unit">hits <span id="cache-hits">0</span> · misses <span id="cache-misses">0</span></div>`,
  render: `$("cache-hit-ratio").textContent = pct(s.cache.hitRatio);
  $("cache-hits").textContent = fmt(s.cache.hits); $("cache-misses").textContent = fmt(s.cache.misses);`
}

/**
 * Every circuit breaker's state, with a strip of its recent states.
 *
 * @since 0.1.0
 * @category panels
 */
export const breakers: Panel = {
  title: "Circuit breakers",
  body: '<div id="breakers"><span class="unit">none registered</span></div>',
  render: `const names = Object.keys(s.breakers).sort();
  for (const name of names) { history.breakers[name] = history.breakers[name] || []; push(history.breakers[name], s.breakers[name]); }
  $("breakers").innerHTML = names.length === 0 ? '<span class="unit">none registered</span>' : names.map((name) =>
    '<div><span>' + esc(name) + '</span> <b class="' + s.breakers[name] + '" data-breaker="' + esc(name) + '">' + s.breakers[name] + '</b>' +
    '<div class="strip">' + history.breakers[name].map((st) => '<span class="' + st + '"></span>').join("") + '</div></div>').join("");`
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] ?? c)

/**
 * The page for what a job registered.
 *
 * @since 0.1.0
 * @category pages
 */
export const page = (spec: Spec): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice dashboard</title>
<style>
  :root { --bg:#0f1419; --panel:#182028; --text:#e6e6e6; --muted:#8a96a3; --ok:#3fb950; --warn:#d29922; --bad:#f85149; --line:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { padding:12px 20px; display:flex; justify-content:space-between; align-items:baseline; border-bottom:1px solid #263039; }
  h1 { font-size:18px; margin:0; }
  #status { color:var(--muted); }
  main { display:grid; grid-template-columns:repeat(auto-fill, minmax(260px, 1fr)); gap:12px; padding:16px 20px; }
  section { background:var(--panel); border-radius:6px; padding:12px 14px; }
  h2 { font-size:12px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); margin:0 0 6px; }
  .big { font-size:26px; font-weight:600; }
  .unit { color:var(--muted); font-size:13px; }
  table { width:100%; border-collapse:collapse; }
  td { padding:2px 0; } td.n { text-align:right; font-variant-numeric:tabular-nums; }
  svg { width:100%; height:40px; display:block; margin-top:6px; }
  .CLOSED { color:var(--ok); } .HALF_OPEN { color:var(--warn); } .OPEN { color:var(--bad); }
  .strip { display:flex; height:8px; margin-top:6px; gap:1px; }
  .strip span { flex:1; } .strip .CLOSED { background:var(--ok); } .strip .HALF_OPEN { background:var(--warn); } .strip .OPEN { background:var(--bad); }
</style>
</head>
<body>
<header><h1>sluice</h1><span id="status">connecting…</span></header>
<main>
  <section><h2>Records in</h2><div><span class="big" id="rate-in">–</span> <span class="unit">/s</span></div>
    <div class="unit">total <span id="records-in">0</span></div><svg id="spark-in"></svg></section>
  <section><h2>Records out</h2><div><span class="big" id="rate-out">–</span> <span class="unit">/s</span></div>
    <div class="unit">total <span id="records-out">0</span> · in flight <span id="in-flight">0</span></div><svg id="spark-out"></svg></section>
  <section><h2>Success rate</h2><div class="big" id="success-rate">–</div><svg id="spark-success"></svg></section>
  <section><h2>Failures by reason</h2><table id="failures"></table></section>
  <section><h2>End-to-end latency (ms)</h2><table id="latency-processing"></table></section>
  <section><h2>Consumer lag</h2><table id="lag"></table><svg id="spark-lag"></svg></section>
${spec.panels.map((panel) => `  <section><h2>${escapeHtml(panel.title)}</h2>${panel.body}</section>\n`).join("")}</main>
<script>
"use strict";
const HISTORY = 180;
const SUCCESS = ${JSON.stringify(spec.outcomes.success)};
const history = { in: [], out: [], success: [], lag: [], breakers: {} };
let previous = null;
const $ = (id) => document.getElementById(id);
const fmt = (n, digits = 0) => n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (r) => r === null ? "–" : (r * 100).toFixed(1) + "%";
const push = (arr, v) => { arr.push(v); if (arr.length > HISTORY) arr.shift(); };
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
function spark(svg, values) {
  const w = 300, h = 40, vs = values.filter((v) => v !== null);
  if (vs.length < 2) { svg.innerHTML = ""; return; }
  const max = Math.max(...vs, 1e-9), min = Math.min(...vs, 0), step = w / (HISTORY - 1);
  const off = HISTORY - values.length;
  const pts = values.map((v, i) => v === null ? null : ((off + i) * step).toFixed(1) + "," + (h - 2 - ((v - min) / (max - min || 1)) * (h - 4)).toFixed(1)).filter(Boolean);
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.innerHTML = '<polyline fill="none" stroke="#58a6ff" stroke-width="1.5" points="' + pts.join(" ") + '"/>';
}
function rows(table, entries) {
  table.innerHTML = entries.length === 0 ? '<tr><td class="unit">none</td></tr>' :
    entries.map(([k, v]) => '<tr><td>' + esc(k) + '</td><td class="n">' + esc(v) + '</td></tr>').join("");
}
function latency(table, l) {
  rows(table, [["p50", fmt(l.p50, 1)], ["p95", fmt(l.p95, 1)], ["p99", fmt(l.p99, 1)], ["samples", fmt(l.count)]]);
}
function render(s, now) {
  let rateIn = null, rateOut = null;
  if (previous) {
    const dt = (now - previous.time) / 1000;
    if (dt > 0) { rateIn = Math.max(0, (s.recordsIn - previous.stats.recordsIn) / dt); rateOut = Math.max(0, (s.recordsOut - previous.stats.recordsOut) / dt); }
  }
  previous = { time: now, stats: s };
  push(history.in, rateIn); push(history.out, rateOut); push(history.success, s.successRate);
  push(history.lag, s.consumerLag.reduce((a, p) => a + p.lag, 0));
  $("rate-in").textContent = fmt(rateIn, 1); $("rate-out").textContent = fmt(rateOut, 1);
  $("records-in").textContent = fmt(s.recordsIn); $("records-out").textContent = fmt(s.recordsOut);
  $("in-flight").textContent = fmt(s.inFlight);
  $("success-rate").textContent = pct(s.successRate);
  const failures = Object.entries(s.outcomesByStatus).filter(([k]) => !SUCCESS.includes(k))
    .concat(Object.entries(s.deadLettersByReason).map(([k, v]) => ["dead letter: " + k, v]))
    .map(([k, v]) => [k, fmt(v)]);
  rows($("failures"), failures);
  latency($("latency-processing"), s.processingLatencyMs);
  rows($("lag"), s.consumerLag.map((p) => [p.topic + "[" + p.partition + "]", fmt(p.lag)]));
  spark($("spark-in"), history.in); spark($("spark-out"), history.out); spark($("spark-success"), history.success); spark($("spark-lag"), history.lag);
${spec.panels.map((panel) => `  { ${panel.render} }`).join("\n")}
}
let updates = 0;
async function poll() {
  try {
    const response = await fetch("api/stats", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json(), performance.now());
    $("status").textContent = "live · update " + (++updates);
  } catch (error) {
    $("status").textContent = "disconnected: " + error.message;
  }
}
poll();
setInterval(poll, 1000);
</script>
</body>
</html>
`
