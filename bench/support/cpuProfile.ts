/**
 * The Node flags that make a benchmark's child process write a V8 CPU
 * profile (`node --cpu-prof`), read with `bench/tools/cpuProfileSummary.ts`.
 */

/** Flags writing `<dir>/<name>.cpuprofile` when the process exits; none when `dir` is not given. */
export const cpuProfileFlags = (dir: string | undefined, name: string): ReadonlyArray<string> =>
  dir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`]
