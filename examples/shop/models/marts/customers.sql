with orders as (
    select * from {{ ref('orders') }} where not is_guest
),

per_customer as (
    select
        customer_id,
        arg_max(country, ordered_at) as country,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as n_orders,
        {{ money('sum(revenue)') }} as revenue
    from orders
    group by customer_id
)

select
    c.*,
    coalesce(r.region, 'Unknown') as region,
    {{ money('c.revenue / c.n_orders') }} as avg_order_value,
    c.n_orders > 1 as is_repeat
from per_customer as c
left join {{ ref('country_regions') }} as r using (country)
