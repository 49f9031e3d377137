/**
 * The Node flags the container image runs the job with, read from
 * `deploy/Dockerfile` (its `NODE_OPTIONS` and the flags of its `node`
 * entrypoint), so a benchmark measures the job as it is deployed and cannot
 * drift from the image when the image's flags change.
 */
import { readFileSync } from "node:fs"

const dockerfile = new URL("../../deploy/Dockerfile", import.meta.url)

/** A space-separated flag list (a command-line option's or the Dockerfile's) as its flags. */
export const splitFlags = (text: string): Array<string> => text.split(" ").filter((f) => f !== "")

export const imageNodeFlags = (): ReadonlyArray<string> => {
  const text = readFileSync(dockerfile, "utf8")
  const options = /NODE_OPTIONS="([^"]*)"/.exec(text)?.[1]
  const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(text)?.[1]
  if (options === undefined || entrypoint === undefined) {
    throw new Error(
      `${dockerfile.pathname}: no NODE_OPTIONS="..." or ENTRYPOINT [...] line to read the job's Node flags from`
    )
  }
  const command = JSON.parse(entrypoint) as ReadonlyArray<string>
  // The entrypoint is ["node", ...flags, script, ...]: its flags are what starts with "--".
  const entryFlags = command[0] === "node" ? command.slice(1).filter((arg) => arg.startsWith("--")) : []
  return [...splitFlags(options), ...entryFlags]
}
