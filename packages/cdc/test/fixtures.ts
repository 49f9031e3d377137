import { readFileSync } from "node:fs"
import { Schema } from "effect"
import * as Decimal from "../src/Decimal.ts"
import * as Json from "../src/Json.ts"
import * as Temporal from "../src/Temporal.ts"

/** The text of a hand-written fixture under `test/fixtures`. */
export const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")

/** The `orders` table of the fixtures, with its decimals in one mode. */
export const orderRow = <T, E>(total: Schema.Codec<T, E>, discount: Schema.Codec<T, unknown>) =>
  Schema.Struct({
    id: Schema.Int,
    customer_id: Schema.Int,
    total,
    discount: Schema.NullOr(discount),
    order_date: Temporal.microTimestamp,
    shipped_on: Schema.NullOr(Temporal.date),
    created_at: Temporal.zonedTimestamp,
    notes: Schema.NullOr(Json.column),
    status: Schema.String
  })

export const preciseOrder = orderRow(Decimal.precise(2), Decimal.variableScale)
export const stringOrder = orderRow(Decimal.string, Decimal.string)
export const doubleOrder = orderRow(Decimal.double, Decimal.double)
