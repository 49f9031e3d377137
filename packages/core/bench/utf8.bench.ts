/**
 * Encoding the short strings the stateful operators write per record (keys and
 * small JSON values) with the standard `TextEncoder` against `encodeUtf8`
 * (Node's pooled `Buffer.from`), in alternating rounds of the same strings.
 *
 *   node packages/core/bench/utf8.bench.ts [strings] [rounds]
 */
import { encodeUtf8 } from "../src/internal/utf8.ts"

const n = Number(process.argv[2] ?? 1_000_000)
const rounds = Number(process.argv[3] ?? 4)
const strings = Array.from({ length: 1024 }, (_, i) => JSON.stringify({ key: `customer-${i}`, count: i * 7 }))
const encoder = new TextEncoder()

const time = (encode: (text: string) => Uint8Array): number => {
  let bytes = 0
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) bytes += encode(strings[i & 1023]!).byteLength
  const ns = Number(process.hrtime.bigint() - start)
  if (bytes === 0) throw new Error("nothing encoded")
  return ns / n
}

for (let round = 0; round < rounds; round++) {
  const standard = time((s) => encoder.encode(s))
  const pooled = time(encodeUtf8)
  console.log(
    `round ${round}: TextEncoder ${standard.toFixed(0)} ns/string, encodeUtf8 ${pooled.toFixed(0)} ns/string, ratio ${(pooled / standard).toFixed(2)}`
  )
}
