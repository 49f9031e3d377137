/**
 * Reads a job's `/metrics` (Prometheus text format): the benchmark takes the
 * lookup cache's hits and misses from the job itself, which is the only place
 * that knows them.
 */

/** Sum of every sample of `name` (all label sets), or 0 when absent. */
export const sumOf = (text: string, name: string): number => {
  let sum = 0
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== " " && rest[0] !== "{") continue
    const value = Number(line.slice(line.lastIndexOf(" ") + 1))
    if (Number.isFinite(value)) sum += value
  }
  return sum
}

/** GETs `http://127.0.0.1:<port>/metrics`; undefined when the job does not answer. */
export const scrape = async (port: number): Promise<string | undefined> => {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })
    return response.ok ? await response.text() : undefined
  } catch {
    return undefined
  }
}
