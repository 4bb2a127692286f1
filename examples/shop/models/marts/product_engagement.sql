-- What shoppers do with each product on the site: views and cart adds from
-- the collected clickstream, next to what the order system says was sold.
with views as (
    select product_id, count(*) as views, count(distinct coalesce(user_id, anonymous_id)) as viewers,
           max("timestamp") as last_viewed_at
    from {{ source('events', 'product_viewed') }}
    group by product_id
),

adds as (
    select product_id, count(*) as cart_adds, sum(quantity) as units_added
    from {{ source('events', 'product_added') }}
    group by product_id
)

select
    coalesce(v.product_id, a.product_id) as product_id,
    coalesce(v.views, 0) as views,
    coalesce(v.viewers, 0) as viewers,
    coalesce(a.cart_adds, 0) as cart_adds,
    coalesce(a.units_added, 0) as units_added,
    p.units_sold,
    v.last_viewed_at
from views as v
full outer join adds as a on a.product_id = v.product_id
left join {{ ref('products') }} as p on p.stock_code = coalesce(v.product_id, a.product_id)
