import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Jobs from "../src/cli/Jobs.ts"
import * as Sluice from "../src/cli/Sluice.ts"

const bin = join(import.meta.dirname, "..", "bin", "sluice.js")
const recorder = join(import.meta.dirname, "support", "recordModules.ts")
const jobsDir = pathToFileURL(join(import.meta.dirname, "..", "src", "jobs")).href

// Large dependencies that neither `cdc route` nor `claims enrich` uses unless
// asked to (a shared breaker store, a DuckDB lookup, telemetry export), and
// that other jobs or options bring.
const optional = ["/@redis/", "/@aws-sdk/", "/lmdb/", "/@duckdb/", "/@opentelemetry/", "/@electric-sql/"]

// The URLs of the modules `sluice <args>` loads.
const loadedBy = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-modules-"))
  try {
    const file = join(dir, "loaded.txt")
    const { PATH, HOME } = process.env
    const run = spawnSync(process.execPath, ["--import", pathToFileURL(recorder).href, bin, ...args], {
      env: { PATH: PATH ?? "", HOME: HOME ?? "", SLUICE_LOADED_MODULES: file },
      encoding: "utf8",
      timeout: 30_000
    })
    assert.strictEqual(run.status, 0, run.stderr)
    return readFileSync(file, "utf8").split("\n")
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// The registered jobs whose folder the process loaded a module from.
const jobsLoaded = (urls: ReadonlyArray<string>) =>
  Jobs.all.map((job) => job.name).filter((name) => urls.some((url) => url.startsWith(`${jobsDir}/${name}/`)))

describe("registered jobs", () => {
  it("every entry names the job, description and top-level commands its module declares", async () => {
    for (const entry of Jobs.all) {
      const job = await entry.load()
      assert.strictEqual(job.name, entry.name)
      assert.strictEqual(job.description, entry.description)
      assert.deepStrictEqual(
        job.commands.map((command) => command.name),
        entry.commands
      )
    }
  })

  it("a command line needs the job owning its command, none for the broker, every job otherwise", () => {
    for (const entry of Jobs.all) {
      for (const command of entry.commands) {
        assert.deepStrictEqual(Sluice.needs(["--log-level", "debug", command, "--help"]), [entry])
      }
    }
    assert.deepStrictEqual(Sluice.needs(["broker", "--data-dir", Jobs.all[0]?.commands[0] ?? ""]), [])
    for (const args of [[], ["--help"], ["config"], ["demo", "cdc"], ["bogus"], ["--completions", "bash"]]) {
      assert.deepStrictEqual(Sluice.needs(args), Jobs.all)
    }
  })
})

describe("modules a command loads", () => {
  for (const entry of Jobs.all) {
    it(`sluice ${entry.commands[0]} --help loads the ${entry.name} job and no other`, () => {
      assert.deepStrictEqual(jobsLoaded(loadedBy([entry.commands[0] ?? "", "--help"])), [entry.name])
    })
  }

  it("sluice cdc route --help and sluice claims enrich --help load none of the optional dependencies", () => {
    for (const args of [
      ["cdc", "route", "--help"],
      ["claims", "enrich", "--help"]
    ]) {
      const urls = loadedBy(args)
      assert.deepStrictEqual(
        optional.filter((dependency) => urls.some((url) => url.includes(dependency))),
        [],
        args.join(" ")
      )
    }
  })

  it("sluice broker --help loads no job, sluice --help every job", () => {
    assert.deepStrictEqual(jobsLoaded(loadedBy(["broker", "--help"])), [])
    assert.deepStrictEqual(
      jobsLoaded(loadedBy(["--help"])),
      Jobs.all.map((job) => job.name)
    )
  })
})
