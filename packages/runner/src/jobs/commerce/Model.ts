/**
 * The rows of the commerce database as Debezium writes them (PostgreSQL
 * connector, `decimal.handling.mode=precise`, `time.precision.mode=adaptive`):
 * `orders`, `order_items` and `products`, each with its change-event codec
 * from `@sluice/cdc`. Money is `NUMERIC(10,2)`, so it decodes to an exact
 * `BigDecimal`; times are `TIMESTAMP(6)`, so `MicroTimestamp`s.
 *
 * @since 0.3.0
 */
import { Debezium, Decimal, Temporal } from "@sluice/cdc"
import { Schema } from "effect"

/**
 * A row of `orders`.
 *
 * @since 0.3.0
 * @category schemas
 */
export const Order = Schema.Struct({
  id: Schema.Int,
  customer_id: Schema.Int,
  status: Schema.String,
  total_amount: Decimal.precise(2),
  order_date: Temporal.microTimestamp
})

/**
 * @since 0.3.0
 * @category models
 */
export type Order = typeof Order.Type

/**
 * A row of `order_items`.
 *
 * @since 0.3.0
 * @category schemas
 */
export const OrderItem = Schema.Struct({
  id: Schema.Int,
  order_id: Schema.Int,
  product_id: Schema.Int,
  quantity: Schema.Int,
  unit_price: Decimal.precise(2)
})

/**
 * @since 0.3.0
 * @category models
 */
export type OrderItem = typeof OrderItem.Type

/**
 * A row of `products`.
 *
 * @since 0.3.0
 * @category schemas
 */
export const Product = Schema.Struct({
  id: Schema.Int,
  name: Schema.String,
  category: Schema.String,
  price: Decimal.precise(2),
  stock_quantity: Schema.Int,
  updated_at: Temporal.microTimestamp
})

/**
 * @since 0.3.0
 * @category models
 */
export type Product = typeof Product.Type

/**
 * The change events of `orders`.
 *
 * @since 0.3.0
 * @category codecs
 */
export const orders = Debezium.changeEvent(Order)

/**
 * The change events of `order_items`.
 *
 * @since 0.3.0
 * @category codecs
 */
export const orderItems = Debezium.changeEvent(OrderItem)

/**
 * The change events of `products`.
 *
 * @since 0.3.0
 * @category codecs
 */
export const products = Debezium.changeEvent(Product)

/**
 * The record keys of the three tables (`{ "id": … }`, the primary key).
 *
 * @since 0.3.0
 * @category codecs
 */
export const rowKey = Debezium.key(Schema.Struct({ id: Schema.Int }))

/**
 * An order's event time: its `order_date`, in epoch milliseconds.
 *
 * @since 0.3.0
 * @category event time
 */
export const orderTime = (order: Order): number => Temporal.toEpochMillis(order.order_date)

/**
 * The topic of a table under a Debezium topic prefix (`dbserver1.public.orders`).
 *
 * @since 0.3.0
 * @category topics
 */
export const topicOf = (prefix: string, table: "orders" | "order_items" | "products"): string => `${prefix}.${table}`
