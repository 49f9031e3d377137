import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Claims from "@sluice/runner/jobs/claims/ClaimsTable"
import { assert, describe, it } from "vitest"
import * as KafkaPipe from "./kafka-pipe.ts"
import * as LookupExample from "./lookup.ts"
import * as PipelineExample from "./pipeline.ts"
import * as PolicyExample from "./policy.ts"
import * as WindowsExample from "./windows.ts"

const root = join(import.meta.dirname, "..")

// Runs an example as a user would, with `node`, and returns the JSON summary it prints last.
const run = (name: string): Promise<unknown> =>
  new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join("examples", `${name}.ts`)],
      { cwd: root, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null)
          return reject(new Error(`${name} failed (${error.code ?? error.signal}): ${stderr}${stdout}`))
        // A user would see a process warning (kafkajs's negative timer before its patch, for one).
        if (/Warning:/.test(stderr)) return reject(new Error(`${name} printed a warning: ${stderr}`))
        const last = stdout.trimEnd().split("\n").at(-1) ?? ""
        resolve(JSON.parse(last))
      }
    )
  })

// The README's code between `// #region readme` and `// #endregion`, each region dedented, joined by a blank line.
const readmeRegions = (file: string): string => {
  const regions: Array<Array<string>> = []
  let current: Array<string> | undefined
  for (const line of readFileSync(join(root, "examples", file), "utf8").split("\n")) {
    if (line.trim() === "// #region readme") current = []
    else if (line.trim() === "// #endregion" && current !== undefined) {
      regions.push(current)
      current = undefined
    } else current?.push(line)
  }
  return regions
    .map((lines) => {
      const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => l.length - l.trimStart().length))
      return lines
        .map((l) => l.slice(indent))
        .join("\n")
        .trim()
    })
    .join("\n\n")
}

// The first ```ts block after a README heading.
const readmeBlock = (heading: string): string => {
  const readme = readFileSync(join(root, "README.md"), "utf8")
  const at = readme.indexOf(`\n${heading}\n`)
  assert.isAtLeast(at, 0, `README has no heading ${heading}`)
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))
  assert.isNotNull(match, `no ts block after ${heading}`)
  return match![1]!.trim()
}

describe("README code", () => {
  it.each([
    ["## A pipeline in a few lines (`@sluice/core`)", "pipeline.ts"],
    ["### Guarding calls with a `Policy`", "policy.ts"],
    ["## Event time, windows and state (`@sluice/core`)", "windows.ts"],
    ["## Kafka source and sink (`@sluice/kafka`)", "kafka-pipe.ts"],
    ["## Lookups (`@sluice/lookup`)", "lookup.ts"]
  ])("%s is the code of examples/%s", (heading, file) => {
    const regions = readmeRegions(file)
    assert.notStrictEqual(regions, "", `${file} marks no readme region`)
    assert.strictEqual(readmeBlock(heading), regions)
  })
})

describe("examples", () => {
  it("pipeline: valid payments routed by their claim, the rest dead-lettered, every offset committed", async () => {
    const { inputs, knownClaims } = PipelineExample
    const payments = inputs.flatMap(({ value }) => {
      try {
        const p = JSON.parse(value)
        return typeof p.payment_id === "string" && typeof p.claim_id === "string" ? [p] : []
      } catch {
        return []
      }
    })
    const summary = (await run("pipeline")) as {
      enriched: Array<string>
      failed: Array<string>
      deadLetters: number
      committed: Record<string, number>
    }
    const ids = (known: boolean) =>
      payments
        .filter((p) => knownClaims.has(p.claim_id) === known)
        .map((p) => p.payment_id)
        .sort()
    assert.isNotEmpty(ids(true))
    assert.isNotEmpty(ids(false))
    assert.deepStrictEqual([...summary.enriched].sort(), ids(true))
    assert.deepStrictEqual([...summary.failed].sort(), ids(false))
    assert.strictEqual(summary.deadLetters, inputs.length - payments.length)
    assert.strictEqual(
      Object.values(summary.committed).reduce((a, b) => a + b, 0),
      inputs.length
    )
  })

  it("policy: retries a passing fault, then the breaker opens and rejects without running", async () => {
    const { answer, failFirst, tripAfter } = PolicyExample
    const summary = (await run("policy")) as {
      rows: Array<string>
      attempts: number
      calls: Array<{ outcome: string; ran: number }>
      breaker: string
    }
    assert.deepStrictEqual(summary.rows, [...answer])
    assert.strictEqual(summary.attempts, failFirst + 1)
    const failed = summary.calls.slice(0, -1)
    assert.strictEqual(failed.length, tripAfter)
    for (const call of failed) {
      assert.strictEqual(call.outcome, "Unavailable")
      assert.isAbove(call.ran, 1, "a retryable failure is retried")
    }
    assert.deepStrictEqual(summary.calls.at(-1), { outcome: "CircuitOpen", ran: 0 })
    assert.strictEqual(summary.breaker, "open")
  })

  it("kafka-pipe: every record upper-cased with its key, and its offset committed", async () => {
    const { inputs } = KafkaPipe
    const summary = (await run("kafka-pipe")) as {
      outputs: Array<{ key: string; value: string }>
      committed: number
    }
    const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key)
    assert.deepStrictEqual(
      [...summary.outputs].sort(byKey),
      inputs.map((value, i) => ({ key: `k${i}`, value: value.toUpperCase() })).sort(byKey)
    )
    assert.strictEqual(summary.committed, inputs.length)
  })

  it("lookup: seeded claims found with their row, a missing one answered as none, in the order asked", async () => {
    const { asked, seeded } = LookupExample
    const rows = new Map(Claims.seedRows(seeded).map((r) => [r.claim_id, r]))
    const expected = (id: string | undefined) => {
      const row = id === undefined ? undefined : rows.get(id)
      return row === undefined
        ? null
        : { claim_id: row.claim_id, member_id: row.member_id, amount: Number(row.claim_amount) }
    }
    type Shown = { claim_id: string; member_id: string; claim_amount: string } | null
    const comparable = (c: Shown) =>
      c === null ? null : { claim_id: c.claim_id, member_id: c.member_id, amount: Number(c.claim_amount) }
    const summary = (await run("lookup")) as { get: Shown; getMany: Array<Shown> }
    assert.deepStrictEqual(comparable(summary.get), expected(asked[0]))
    assert.deepStrictEqual(summary.getMany.map(comparable), asked.map(expected))
    assert.include(summary.getMany, null, "one id asked is not seeded")
  })

  it("windows: closed 10-minute windows per product equal a replay of the orders, the late order routed, all committed", async () => {
    const { inputs } = WindowsExample
    const ten = 10 * 60_000
    const orders = inputs.flatMap(({ value }) => {
      try {
        return [JSON.parse(value) as { product: string; customer: string; amount: string; at: number }]
      } catch {
        return []
      }
    })
    // Replay the watermark (30 s out of order, 1 min grace) by hand.
    let watermark = Number.NEGATIVE_INFINITY
    const onTime: typeof orders = []
    const late: typeof orders = []
    for (const o of orders) {
      const end = Math.floor(o.at / ten) * ten + ten
      if (end + 60_000 <= watermark) late.push(o)
      else onTime.push(o)
      watermark = Math.max(watermark, o.at - 30_000)
    }
    const windows = new Map<string, typeof orders>()
    for (const o of onTime) {
      const start = Math.floor(o.at / ten) * ten
      if (start + ten + 60_000 > watermark) continue
      const id = `${o.product}@${new Date(start).toISOString()}`
      windows.set(id, [...(windows.get(id) ?? []), o])
    }
    const cents = (amount: string) => Math.round(Number(amount) * 100)
    const expected = [...windows].map(([id, os]) => ({
      id,
      orders: os.length,
      cents: os.reduce((s, o) => s + cents(o.amount), 0),
      customers: new Set(os.map((o) => o.customer)).size
    }))
    const summary = (await run("windows")) as {
      sales: Array<{ product: string; start: string; orders: number; revenue: string; customers: number }>
      late: Array<{ product: string; at: number }>
      deadLetters: number
      committed: number
    }
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id)
    assert.isAbove(expected.length, 1)
    assert.deepStrictEqual(
      summary.sales
        .map((s) => ({
          id: `${s.product}@${s.start}`,
          orders: s.orders,
          cents: cents(s.revenue),
          customers: s.customers
        }))
        .sort(byId),
      expected.sort(byId)
    )
    assert.deepStrictEqual(
      summary.late.map((l) => l.at),
      late.map((l) => l.at)
    )
    assert.isNotEmpty(late)
    assert.strictEqual(summary.deadLetters, inputs.length - orders.length)
    assert.strictEqual(summary.committed, inputs.length)
  })
})
