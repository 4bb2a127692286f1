select
    stock_code,
    mode(description) as description,
    {{ money('median(unit_price)') }} as median_price,
    count(distinct invoice_no) as n_orders,
    count(distinct customer_id) as n_customers,
    sum(quantity) as units_sold,
    {{ money('sum(line_amount)') }} as revenue,
    min(invoiced_at) as first_sold_at,
    max(invoiced_at) as last_sold_at
from {{ ref('order_lines') }}
group by stock_code
