select
    invoice_no as order_id,
    any_value(customer_id) as customer_id,
    min(invoiced_at) as ordered_at,
    any_value(country) as country,
    any_value(customer_id) is null as is_guest,
    count(*) as n_lines,
    sum(quantity) as n_items,
    {{ money('sum(line_amount)') }} as revenue
from {{ ref('order_lines') }}
group by invoice_no
