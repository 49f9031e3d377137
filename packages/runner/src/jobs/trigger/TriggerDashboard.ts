/**
 * What the trigger shows on the dashboard, besides the common panels: the
 * state manager (hit rate of the per-user checkpoints and what the Profile
 * API answered), the filter (pass rate and its decisions) and the actions
 * (delivered and failed, per action), then the Profile API lookup's latency
 * and the circuit breakers. The trigger's counters (`TriggerMetrics`) are
 * read from the Prometheus text of `/metrics`, once per refresh for the
 * three panels, so the stats API stays the same for every job.
 *
 * @since 0.1.0
 */
import * as Dashboard from "../../http/Dashboard.ts"
import * as TriggerMetrics from "./TriggerMetrics.ts"

// Runs in the browser: the samples of the trigger's counters, summed by their labels.
const read = `const samples = (text, name) => { const out = [];
    for (const line of text.split("\\n")) {
      if (!line.startsWith(name + "{")) continue;
      const labels = {}; for (const m of line.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) labels[m[1]] = m[2];
      const v = Number(line.slice(line.lastIndexOf(" ") + 1)); if (Number.isFinite(v)) out.push({ labels, v }); }
    return out; };
    const by = (xs, key) => { const out = {}; for (const x of xs) { const k = key(x.labels); out[k] = (out[k] || 0) + x.v; } return out; };
    const ratio = (part, total) => total > 0 ? part / total : null;`

const names = {
  state: TriggerMetrics.stateLookups,
  calls: TriggerMetrics.profileCalls,
  filter: TriggerMetrics.filterDecisions,
  actions: TriggerMetrics.actions
}

/**
 * The state manager: the share of events whose user had a live checkpoint,
 * and the Profile API's answers.
 *
 * @since 0.1.0
 * @category panels
 */
export const statePanel: Dashboard.Panel = {
  title: "User state and Profile API",
  body: `<div><span class="big" id="trigger-state-hit">–</span> <span class="unit">state hit rate</span></div>
    <div class="unit">hits <span id="trigger-state-hits">0</span> · loads <span id="trigger-state-misses">0</span> · retries <span id="trigger-state-retries">0</span></div>
    <table id="trigger-api"></table>`,
  render: `fetch("/metrics").then((r) => r.text()).then((text) => { ${read}
    const state = by(samples(text, ${JSON.stringify(names.state.id)}), (l) => l.outcome);
    const hits = state.hit || 0, misses = state.miss || 0, retries = state.retry || 0;
    $("trigger-state-hit").textContent = pct(ratio(hits, hits + misses + retries));
    $("trigger-state-hits").textContent = fmt(hits); $("trigger-state-misses").textContent = fmt(misses); $("trigger-state-retries").textContent = fmt(retries);
    const calls = by(samples(text, ${JSON.stringify(names.calls.id)}), (l) => l.outcome);
    rows($("trigger-api"), ["ok", "not_found", "failed"].map((k) => ["API " + k, fmt(calls[k] || 0)]));
    const filter = by(samples(text, ${JSON.stringify(names.filter.id)}), (l) => l.outcome);
    const pass = filter.pass || 0, reject = filter.reject || 0, error = filter.error || 0;
    $("trigger-filter-pass").textContent = pct(ratio(pass, pass + reject + error));
    rows($("trigger-filter"), [["pass", fmt(pass)], ["reject", fmt(reject)], ["error (rejected)", fmt(error)]]);
    const actions = by(samples(text, ${JSON.stringify(names.actions.id)}), (l) => l.action + " " + l.outcome);
    const kinds = [...new Set(Object.keys(actions).map((k) => k.split(" ")[0]))].sort();
    rows($("trigger-actions"), kinds.flatMap((a) => [[a + " delivered", fmt(actions[a + " delivered"] || 0)], [a + " failed", fmt(actions[a + " failed"] || 0)]])); });`
}

/**
 * The filter: pass rate, passes, rejections and runtime errors (rejected).
 * Filled by the state panel's refresh.
 *
 * @since 0.1.0
 * @category panels
 */
export const filterPanel: Dashboard.Panel = {
  title: "Filter",
  body: `<div><span class="big" id="trigger-filter-pass">–</span> <span class="unit">pass rate</span></div>
    <table id="trigger-filter"></table>`,
  render: ""
}

/**
 * Actions delivered and failed (sent to the failed-actions topic), per
 * action. Filled by the state panel's refresh.
 *
 * @since 0.1.0
 * @category panels
 */
export const actionsPanel: Dashboard.Panel = {
  title: "Actions",
  body: '<table id="trigger-actions"></table>',
  render: ""
}

/**
 * The dashboard of the trigger.
 *
 * @since 0.1.0
 * @category constants
 */
export const dashboard: Dashboard.Spec = {
  outcomes: { outputs: [], success: [] },
  panels: [statePanel, filterPanel, actionsPanel, Dashboard.lookupLatency, Dashboard.breakers]
}
