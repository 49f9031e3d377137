/**
 * The part of the DynamoDB clients that the sink uses, as structural
 * interfaces: `batchWrite` of `@aws-sdk/lib-dynamodb`'s `DynamoDBDocument`
 * (items as plain JavaScript values) and `send` of the low-level
 * `DynamoDBClient` for table management. Tests can wrap or fake them.
 *
 * @since 0.1.0
 */

/**
 * One write of a `BatchWriteItem` request.
 *
 * @since 0.1.0
 * @category models
 */
export interface WriteRequest {
  readonly PutRequest?: { readonly Item: Record<string, unknown> | undefined } | undefined
  readonly DeleteRequest?: { readonly Key: Record<string, unknown> | undefined } | undefined
}

/**
 * A `BatchWriteItem` request: the writes per table name.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchWriteInput {
  readonly RequestItems: Record<string, Array<WriteRequest>>
}

/**
 * A `BatchWriteItem` answer: the writes it did not do, per table name.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchWriteOutput {
  readonly UnprocessedItems?: Record<string, Array<WriteRequest>> | undefined
}

/**
 * Writes up to 25 items in one request; what it did not write comes back in
 * `UnprocessedItems`.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchWriter {
  batchWrite(input: BatchWriteInput): Promise<BatchWriteOutput>
}
