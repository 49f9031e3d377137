/**
 * The PostgreSQL tables the commerce jobs write, created by
 * `sluice commerce migrate` (`PgUpsertSink.createTable`).
 *
 * @since 0.3.0
 */
import type { PgUpsertSink } from "@sluice/sinks"

/**
 * One row per sales window, keyed by `metric_id` (`<start>/<end>` in ISO 8601).
 *
 * @since 0.3.0
 * @category tables
 */
export const salesMetrics: PgUpsertSink.Table = {
  name: "realtime_sales_metrics",
  key: [{ name: "metric_id", type: "text" }],
  columns: [
    { name: "window_start", type: "timestamptz" },
    { name: "window_end", type: "timestamptz" },
    { name: "total_revenue", type: "numeric(14,2)" },
    { name: "order_count", type: "integer" },
    { name: "avg_order_value", type: "numeric(14,2)" },
    { name: "unique_customers", type: "integer" }
  ]
}

/**
 * One row per customer, keyed by `customer_id`.
 *
 * @since 0.3.0
 * @category tables
 */
export const customerSegments: PgUpsertSink.Table = {
  name: "customer_segments",
  key: [{ name: "customer_id", type: "bigint" }],
  columns: [
    { name: "segment", type: "text" },
    { name: "recency_days", type: "integer" },
    { name: "frequency", type: "integer" },
    { name: "monetary_value", type: "numeric(14,2)" },
    { name: "last_order_at", type: "timestamptz" },
    { name: "as_of", type: "timestamptz" }
  ]
}

/**
 * One row per alert, keyed by `alert_id` (`<order_id>:<rule>`).
 *
 * @since 0.3.0
 * @category tables
 */
export const anomalyAlerts: PgUpsertSink.Table = {
  name: "anomaly_alerts",
  key: [{ name: "alert_id", type: "text" }],
  columns: [
    { name: "customer_id", type: "bigint" },
    { name: "order_id", type: "bigint" },
    { name: "anomaly_type", type: "text" },
    { name: "severity", type: "text" },
    { name: "description", type: "text" },
    { name: "order_amount", type: "numeric(14,2)" },
    { name: "order_date", type: "timestamptz" }
  ]
}

/**
 * One row per product, keyed by `product_id`: its stock, 7-day velocity,
 * status and restock recommendation (rules in `Inventory`).
 *
 * @since 0.3.0
 * @category tables
 */
export const inventoryInsights: PgUpsertSink.Table = {
  name: "inventory_insights",
  key: [{ name: "product_id", type: "bigint" }],
  columns: [
    { name: "product_name", type: "text" },
    { name: "category", type: "text" },
    { name: "stock_quantity", type: "integer" },
    { name: "units_sold_7d", type: "integer" },
    { name: "velocity_units_per_day", type: "numeric(12,2)" },
    { name: "days_until_stockout", type: "numeric(12,1)" },
    { name: "stock_status", type: "text" },
    { name: "dead_stock", type: "boolean" },
    { name: "restock_quantity", type: "integer" },
    { name: "restock_urgency", type: "text" },
    { name: "last_sale_at", type: "timestamptz" },
    { name: "as_of", type: "timestamptz" }
  ]
}

/**
 * Every table of the commerce jobs.
 *
 * @since 0.3.0
 * @category tables
 */
export const all: ReadonlyArray<PgUpsertSink.Table> = [salesMetrics, customerSegments, anomalyAlerts, inventoryInsights]
