-- Revenue of orders must equal the revenue of the product lines they came from.
with lines as (
    select sum(line_amount) as revenue from {{ ref('order_lines') }}
), orders as (
    select sum(revenue) as revenue from {{ ref('orders') }}
)
select lines.revenue as line_revenue, orders.revenue as order_revenue
from lines, orders
where abs(lines.revenue - orders.revenue) > 0.01
