import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"

const bin = join(import.meta.dirname, "..", "bin", "sluice.js")

const sluice = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const { PATH, HOME } = process.env
  const run = spawnSync(process.execPath, [bin, ...args], {
    env: { PATH: PATH ?? "", HOME: HOME ?? "", ...env },
    encoding: "utf8",
    timeout: 30_000
  })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

const errorLines = (stderr: string) =>
  stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.includes("Invalid value") || l.includes("Unrecognized"))

describe("sluice CLI", () => {
  it("--help lists the registered commands and exits 0", () => {
    const r = sluice(["--help"])
    assert.strictEqual(r.status, 0)
    for (const name of ["config", "db", "generate", "broker"]) assert.include(r.stdout, name)
  })

  it("generate --help - lists the generator flags and exits 0", () => {
    const r = sluice(["generate", "--help"])
    assert.strictEqual(r.status, 0)
    for (const flag of ["--events-per-second", "--count", "--duration", "--partitions"]) assert.include(r.stdout, flag)
  })

  it("--commit-interval - zero fails at start with one message naming the flag", () => {
    const r = sluice(["claims", "large", "--processing-guarantee", "exactly-once", "--commit-interval", "0s"])
    assert.notStrictEqual(r.status, 0)
    assert.deepStrictEqual(errorLines(r.stderr), [
      'Invalid value for --commit-interval: "0s" (expected a duration above 0 such as 50ms, 5s, 2m or 1h)'
    ])
  })

  it("config - prints the resolved configuration with the password hidden", () => {
    const r = sluice(["config", "--group-id", "g7"], { DATABASE_URL: "postgres://app:hunter2@db:5432/claims" })
    assert.strictEqual(r.status, 0)
    const json = JSON.parse(r.stdout)
    assert.strictEqual(json.groupId, "g7")
    assert.strictEqual(json.databaseUrl, "postgres://<redacted>@db:5432/claims")
    assert.notInclude(r.stdout + r.stderr, "hunter2")
  })

  it("config - a bad environment value fails with one message naming the variable", () => {
    const r = sluice(["config"], { METRICS_PORT: "ninety" })
    assert.notStrictEqual(r.status, 0)
    assert.deepStrictEqual(errorLines(r.stderr), [
      'Invalid value for METRICS_PORT: "ninety" (expected a port number between 0 and 65535)'
    ])
    assert.strictEqual(r.stdout, "")
  })

  it("config - a bad flag value fails with one message naming the flag", () => {
    const r = sluice(["config", "--metrics-port", "x"])
    assert.notStrictEqual(r.status, 0)
    assert.deepStrictEqual(errorLines(r.stderr), [
      'Invalid value for --metrics-port: "x" (expected a port number between 0 and 65535)'
    ])
  })

  it("config - an unknown flag fails with one message and a pointer to --help", () => {
    const r = sluice(["config", "--bogus"])
    assert.notStrictEqual(r.status, 0)
    assert.deepStrictEqual(errorLines(r.stderr), ["Unrecognized flag: --bogus in command sluice config"])
    assert.include(r.stderr, 'Run "sluice config --help" for usage.')
  })
})
