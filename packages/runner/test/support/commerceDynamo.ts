/**
 * A DynamoDB for the commerce tests: dynalite (DynamoDB on LevelDB, in
 * memory) on a free loopback port, closed with the scope, and a scan of a
 * table through DynamoDB's JSON protocol, so the test reads back what the
 * job wrote without the job's own client.
 */
import { Effect } from "effect"

// The sinks package's dynalite starter: one way to start it in the repository.
export { startDynalite } from "../../../sinks/test/utils/Dynalite.ts"

/** One attribute value as DynamoDB's JSON has it. */
export type Attribute = { readonly S?: string; readonly N?: string; readonly BOOL?: boolean; readonly NULL?: boolean }

interface ScanOutput {
  readonly Items?: ReadonlyArray<Record<string, Attribute>>
  readonly LastEvaluatedKey?: Record<string, Attribute>
}

/** Every item of `table`, page by page; none when the table does not exist yet. */
export const scan = (endpoint: string, table: string) =>
  Effect.promise(async () => {
    const items: Array<Record<string, Attribute>> = []
    let start: Record<string, Attribute> | undefined
    do {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: {
          "content-type": "application/x-amz-json-1.0",
          "x-amz-target": "DynamoDB_20120810.Scan",
          "x-amz-date": "20260101T000000Z",
          // dynalite wants a signed request's header, and checks no signature.
          authorization:
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
        },
        body: JSON.stringify({ TableName: table, ...(start === undefined ? {} : { ExclusiveStartKey: start }) })
      })
      if (!response.ok) return []
      const page = (await response.json()) as ScanOutput
      items.push(...(page.Items ?? []))
      start = page.LastEvaluatedKey
    } while (start !== undefined)
    return items
  })
