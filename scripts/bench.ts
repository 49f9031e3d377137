// Runs every benchmark in the repository, one after the other so they do not
// compete for the machine's cores: packages/*/bench/*.bench.ts and bench/*.bench.ts.
// Extra arguments select benchmarks whose path contains them: `pnpm bench broker`.
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")
const dirs = [...readdirSync(join(root, "packages")).map((p) => join("packages", p, "bench")), "bench"]
const files = dirs
  .filter((d) => existsSync(join(root, d)))
  .flatMap((d) =>
    readdirSync(join(root, d))
      .filter((f) => f.endsWith(".bench.ts"))
      .map((f) => join(d, f))
  )
  .filter((f) => process.argv.slice(2).every((arg) => f.includes(arg)))
  .sort()

if (files.length === 0) {
  console.error("bench: no benchmark matched")
  process.exit(1)
}
// Node flags a benchmark needs: the state bench collects garbage between its
// phases (`--expose-gc`), so each phase's memory figures are its own.
const nodeFlags: Record<string, ReadonlyArray<string>> = {
  [join("packages", "state", "bench", "state.bench.ts")]: ["--expose-gc"]
}
let failed = 0
for (const file of files) {
  console.log(`\n=== ${file}`)
  const run = spawnSync(process.execPath, [...(nodeFlags[file] ?? []), file], { cwd: root, stdio: "inherit" })
  if (run.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
