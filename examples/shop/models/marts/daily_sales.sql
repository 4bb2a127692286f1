with sales as (
    select ordered_at::date as day, count(*) as n_orders, count(distinct customer_id) as n_customers,
           sum(n_items) as n_items, sum(revenue) as revenue
    from {{ ref('orders') }}
    group by 1
),

refunds as (
    select cancelled_at::date as day, sum(amount_refunded) as refunded
    from {{ ref('cancellations') }}
    group by 1
)

select
    s.day, s.n_orders, s.n_customers, s.n_items,
    {{ money('s.revenue') }} as revenue,
    {{ money('coalesce(r.refunded, 0)') }} as refunded,
    {{ money('s.revenue - coalesce(r.refunded, 0)') }} as net_revenue
from sales as s
left join refunds as r using (day)
order by s.day
