/**
 * Preloaded with `node --import`: records the URL of every module the process
 * loads (ES modules and `require`d ones alike) and writes them, one a line,
 * to the file `SLUICE_LOADED_MODULES` names when the process exits.
 */
import { writeFileSync } from "node:fs"
import { registerHooks } from "node:module"

const out = process.env.SLUICE_LOADED_MODULES
const loaded: Array<string> = []

registerHooks({
  load: (url, context, nextLoad) => {
    loaded.push(url)
    return nextLoad(url, context)
  }
})

process.on("exit", () => {
  if (out !== undefined) writeFileSync(out, loaded.join("\n"))
})
