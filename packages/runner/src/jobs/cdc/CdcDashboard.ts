/**
 * What the CDC commands show on the dashboard: a panel of per-rule
 * throughput (outputs per second and in total, from
 * `sluice_rules_routed_total`, with the unmatched count) and one of records
 * written per topic (`sluice_cdc_records_out_total`: the consumer topics of
 * the router, the raw topics of the capture). Both read the Prometheus text
 * of `/metrics`, which already carries these counters, so the stats API
 * stays the same for every job.
 *
 * @since 0.1.0
 */
import type * as Dashboard from "../../http/Dashboard.ts"

// Runs in the browser: sums a counter's samples by one label from /metrics.
const readCounters = `const byLabel = (text, name, label) => { const out = {};
    for (const line of text.split("\\n")) {
      if (!line.startsWith(name)) continue;
      const m = new RegExp(label + '="([^"]*)"').exec(line); const v = Number(line.slice(line.lastIndexOf(" ") + 1));
      if (m !== null && Number.isFinite(v)) out[m[1]] = (out[m[1]] || 0) + v; }
    return out; };`

/**
 * Per-rule throughput and the unmatched count.
 *
 * @since 0.1.0
 * @category panels
 */
export const rulesPanel: Dashboard.Panel = {
  title: "Rules",
  body: '<table id="cdc-rules"></table><div class="unit">unmatched <span id="cdc-unmatched">0</span></div>',
  render: `fetch("/metrics").then((r) => r.text()).then((text) => { ${readCounters}
    const routed = byLabel(text, "sluice_rules_routed_total", "rule");
    const unmatched = byLabel(text, "sluice_rules_unmatched_total", "outcome");
    history.cdcRules = history.cdcRules || {}; const previous = history.cdcRules; history.cdcRules = routed;
    $("cdc-rules").innerHTML = "<tr><th>rule</th><th>per s</th><th>total</th></tr>" + Object.keys(routed).sort().map((rule) =>
      "<tr><td>" + esc(rule) + "</td><td>" + fmt(Math.max(0, routed[rule] - (previous[rule] || routed[rule]))) + "</td><td>" + fmt(routed[rule]) + "</td></tr>").join("");
    $("cdc-unmatched").textContent = fmt(Object.values(unmatched).reduce((a, b) => a + b, 0)); });`
}

/**
 * Records written per topic.
 *
 * @since 0.1.0
 * @category panels
 */
export const topicsPanel: Dashboard.Panel = {
  title: "Records per topic",
  body: '<table id="cdc-topics"></table>',
  render: `fetch("/metrics").then((r) => r.text()).then((text) => { ${readCounters}
    const topics = byLabel(text, "sluice_cdc_records_out_total", "topic");
    rows($("cdc-topics"), Object.keys(topics).sort().map((t) => [t, fmt(topics[t])])); });`
}

/**
 * The dashboard of the CDC commands.
 *
 * @since 0.1.0
 * @category constants
 */
export const dashboard: Dashboard.Spec = {
  outcomes: { outputs: [], success: [] },
  panels: [rulesPanel, topicsPanel]
}
