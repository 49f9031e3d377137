/**
 * What the commerce jobs show on the dashboard, besides the common panels:
 * records in per topic and dead letters per reason, rows and records written
 * per output (`segments`, `changes`, `alerts`, `topic`, ...), anomaly alerts
 * by severity and rule, and segment changes by the segment a customer moved
 * to. Everything is read from the Prometheus text of `/metrics` (the core's
 * `sluice_records_in_total`, `sluice_records_out_total` and
 * `sluice_dead_letters_total`, and `CommerceMetrics.alerts`), once per
 * refresh for the four panels, so the stats API stays the same for every job.
 *
 * @since 0.3.0
 */
import type * as Dashboard from "../../http/Dashboard.ts"
import * as CommerceMetrics from "./CommerceMetrics.ts"

// Runs in the browser: the samples of a counter, summed by their labels.
const read = `const samples = (text, name) => { const out = [];
    for (const line of text.split("\\n")) {
      if (!line.startsWith(name + "{")) continue;
      const labels = {}; for (const m of line.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) labels[m[1]] = m[2];
      const v = Number(line.slice(line.lastIndexOf(" ") + 1)); if (Number.isFinite(v)) out.push({ labels, v }); }
    return out; };
    const by = (xs, key) => { const out = {}; for (const x of xs) { const k = key(x.labels); out[k] = (out[k] || 0) + x.v; } return out; };
    const total = (o) => Object.values(o).reduce((a, b) => a + b, 0);
    const sorted = (o) => Object.keys(o).sort().map((k) => [k, fmt(o[k])]);`

const names = {
  in: "sluice_records_in_total",
  out: "sluice_records_out_total",
  dead: "sluice_dead_letters_total",
  alerts: CommerceMetrics.alerts.id
}

// The segments in the order a customer usually moves through them.
const segments = ["New", "Regular", "VIP", "At-Risk", "Churned"]

/**
 * Records in per topic and dead letters per reason; its refresh fills the
 * other three panels too.
 *
 * @since 0.3.0
 * @category panels
 */
export const inputPanel: Dashboard.Panel = {
  title: "Commerce input",
  body: `<div><span class="big" id="commerce-in">0</span> <span class="unit">records in</span></div>
    <table id="commerce-in-topics"></table>
    <div><span class="big" id="commerce-dead">0</span> <span class="unit">dead letters</span></div>
    <table id="commerce-dead-reasons"></table>`,
  render: `fetch("/metrics").then((r) => r.text()).then((text) => { ${read}
    const inputs = by(samples(text, ${JSON.stringify(names.in)}), (l) => l.topic);
    $("commerce-in").textContent = fmt(total(inputs)); rows($("commerce-in-topics"), sorted(inputs));
    const dead = by(samples(text, ${JSON.stringify(names.dead)}), (l) => l.reason);
    $("commerce-dead").textContent = fmt(total(dead)); rows($("commerce-dead-reasons"), sorted(dead));
    const outs = samples(text, ${JSON.stringify(names.out)});
    rows($("commerce-results"), sorted(by(outs, (l) => l.output)));
    const alerts = samples(text, ${JSON.stringify(names.alerts)});
    const severity = by(alerts, (l) => l.severity);
    $("commerce-alerts").textContent = fmt(total(severity));
    rows($("commerce-alerts-severity"), ["high", "medium", "low"].map((k) => [k, fmt(severity[k] || 0)]));
    rows($("commerce-alerts-rule"), sorted(by(alerts, (l) => l.rule)));
    const changes = by(outs.filter((x) => x.labels.output === "changes"), (l) => l.status);
    $("commerce-changes").textContent = fmt(total(changes));
    rows($("commerce-changes-to"), ${JSON.stringify(segments)}.map((k) => ["to " + k, fmt(changes[k] || 0)])); });`
}

/**
 * Rows and records written, per output of the running jobs. Filled by the
 * input panel's refresh.
 *
 * @since 0.3.0
 * @category panels
 */
export const resultsPanel: Dashboard.Panel = {
  title: "Commerce results written",
  body: '<table id="commerce-results"></table>',
  render: ""
}

/**
 * Anomaly alerts raised, by severity and by rule. Filled by the input
 * panel's refresh.
 *
 * @since 0.3.0
 * @category panels
 */
export const alertsPanel: Dashboard.Panel = {
  title: "Anomaly alerts",
  body: `<div><span class="big" id="commerce-alerts">0</span> <span class="unit">alerts</span></div>
    <table id="commerce-alerts-severity"></table>
    <table id="commerce-alerts-rule"></table>`,
  render: ""
}

/**
 * Segment changes written, by the segment the customer moved to. Filled by
 * the input panel's refresh.
 *
 * @since 0.3.0
 * @category panels
 */
export const segmentChangesPanel: Dashboard.Panel = {
  title: "Segment changes",
  body: `<div><span class="big" id="commerce-changes">0</span> <span class="unit">changes</span></div>
    <table id="commerce-changes-to"></table>`,
  render: ""
}

/**
 * The dashboard of the commerce jobs.
 *
 * @since 0.3.0
 * @category constants
 */
export const dashboard: Dashboard.Spec = {
  outcomes: { outputs: [], success: [] },
  panels: [inputPanel, resultsPanel, alertsPanel, segmentChangesPanel]
}
