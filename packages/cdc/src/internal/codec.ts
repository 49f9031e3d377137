import { Effect, Result, Schema, SchemaGetter, SchemaIssue } from "effect"

/**
 * A codec from `from` to `to` through two plain functions that may refuse a
 * value with a message (`Result.fail`), which becomes the schema issue.
 */
export const fallible = <T, E>(
  from: Schema.Codec<E>,
  to: Schema.Codec<T>,
  decode: (e: E) => Result.Result<T, string>,
  encode: (t: T) => Result.Result<E, string>
): Schema.Codec<T, E> =>
  from.pipe(
    Schema.decodeTo(to, {
      decode: SchemaGetter.transformEffect((e: E, options) =>
        Result.match(decode(e), {
          onSuccess: Effect.succeed,
          onFailure: (message) => Effect.fail(new SchemaIssue.InvalidValue({ message }, e, options))
        })
      ),
      encode: SchemaGetter.transformEffect((t: T, options) =>
        Result.match(encode(t), {
          onSuccess: Effect.succeed,
          onFailure: (message) => Effect.fail(new SchemaIssue.InvalidValue({ message }, t, options))
        })
      )
    })
  )
