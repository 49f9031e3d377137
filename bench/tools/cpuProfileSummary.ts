/**
 * Where a job's CPU time went, from a V8 `.cpuprofile` (`node --cpu-prof`,
 * or `node bench/claims.bench.ts --cpu-prof DIR`): self time by area (a
 * workspace package, a dependency, Node internals, GC, idle), the functions
 * with the most self time and, for each `--inclusive` pattern, the time spent
 * in matching functions and everything they called.
 *
 * `--timeline` prints the busy share of each second of the profile, and
 * `--from S --to S` (seconds since the profile started) keep only the
 * samples in between: one phase of a run, such as a benchmark's second
 * (warm) pass, without the start-up and the first pass.
 *
 * A sample stands for the time since the one before it, but no more than
 * four times the profile's median interval: on a loaded machine the process
 * waits for a core between samples, and the sample after such a wait would
 * otherwise be charged with the whole wait (one 300 ms gap made a function
 * that ran once look like 5% of the time). How much was left out is printed.
 *
 *   node bench/tools/cpuProfileSummary.ts FILE.cpuprofile [--top 30] [--inclusive REGEX]...
 *     [--timeline] [--from S] [--to S]
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"

interface ProfileNode {
  readonly id: number
  readonly children?: ReadonlyArray<number>
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

/** The area a script belongs to: `@sluice/<pkg>`, a dependency's name, `node`, or the V8 pseudo-frame. */
export const areaOf = (url: string, functionName: string): string => {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)"
  const dependency = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (dependency !== null) return dependency[1]!
  const workspace = /\/packages\/([^/]+)\//.exec(url)
  if (workspace !== null) return `@sluice/${workspace[1]}`
  if (url.startsWith("node:")) return "node"
  return url
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: "string", default: "30" },
    inclusive: { type: "string", multiple: true, default: [] },
    timeline: { type: "boolean", default: false },
    from: { type: "string" },
    to: { type: "string" }
  }
})
const file = positionals[0]
if (file === undefined) {
  console.error("usage: node bench/tools/cpuProfileSummary.ts FILE.cpuprofile [--top N]")
  process.exit(1)
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id))
const fromMicros = values.from === undefined ? Number.NEGATIVE_INFINITY : Number(values.from) * 1e6
const toMicros = values.to === undefined ? Number.POSITIVE_INFINITY : Number(values.to) * 1e6
const busyBySecond: Array<number> = []
const selfMicros = new Map<number, number>()
let total = 0
let elapsed = 0
let capped = 0
const sorted = profile.timeDeltas.filter((d) => d > 0).sort((a, b) => a - b)
const cap = 4 * (sorted[Math.floor(sorted.length / 2)] ?? 0)
profile.samples.forEach((id, i) => {
  const gap = profile.timeDeltas[i] ?? 0
  elapsed += gap
  const dt = Math.min(gap, cap)
  if (elapsed >= fromMicros && elapsed <= toMicros) capped += gap - dt
  const second = Math.floor(elapsed / 1e6)
  busyBySecond[second] = (busyBySecond[second] ?? 0) + (idleIds.has(id) ? 0 : dt)
  if (elapsed < fromMicros || elapsed > toMicros) return
  selfMicros.set(id, (selfMicros.get(id) ?? 0) + dt)
  total += dt
})

const byArea = new Map<string, number>()
const byFunction = new Map<string, number>()
for (const [id, micros] of selfMicros) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame
  const area = areaOf(url, functionName)
  byArea.set(area, (byArea.get(area) ?? 0) + micros)
  const where = url === "" ? "" : ` ${url.replace(/^.*\/(node_modules|packages)\//, "$1/")}:${lineNumber + 1}`
  const key = `${functionName || "(anonymous)"}${where}`
  byFunction.set(key, (byFunction.get(key) ?? 0) + micros)
}

const busy = total - (byArea.get("(idle)") ?? 0)
const line = (name: string, micros: number) =>
  `${(micros / 1000).toFixed(0).padStart(8)} ms ${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${name}`
console.log(
  `${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s not idle (shares below are of that); ` +
    `${(capped / 1e6).toFixed(1)} s of gaps over ${(cap / 1000).toFixed(1)} ms left out (waiting for a core)\n`
)
if (values.timeline) {
  console.log("busy share by second since the start")
  console.log(`${Array.from(busyBySecond, (b, s) => `${s}:${Math.round((b ?? 0) / 1e4)}%`).join(" ")}\n`)
}
console.log("self time by area")
for (const [area, micros] of [...byArea].sort((a, b) => b[1] - a[1]))
  if (area !== "(idle)") console.log(line(area, micros))
console.log(`\ntop ${values.top} functions by self time`)
for (const [name, micros] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
  console.log(line(name, micros))
}

const parent = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const frameName = (id: number) => {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame
  return `${functionName} ${url}:${lineNumber + 1}`
}
if (values.inclusive.length > 0) console.log("\ninclusive time (matching functions and their callees)")
for (const pattern of values.inclusive) {
  const re = new RegExp(pattern)
  let micros = 0
  for (const [id, self] of selfMicros) {
    // A sample counts once however many matching frames its stack holds.
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      if (re.test(frameName(at))) {
        micros += self
        break
      }
    }
  }
  console.log(line(pattern, micros))
}
