-- Each product's price, popularity over 7 and 30 days and return rate, as
-- known at the end of each day it sold (event_ts is the next midnight).
{{ config(materialized='table', tags=['features']) }}

with sold as (
    select stock_code, date_trunc('day', invoiced_at) as day, sum(quantity) as units,
           median(unit_price)::DOUBLE as price, count(distinct customer_id) as buyers
    from {{ ref('order_lines') }}
    group by all
),

returned as (
    select stock_code, date_trunc('day', cancelled_at) as day, sum(quantity_returned) as units_returned
    from {{ ref('cancellations') }}
    group by all
),

days as (
    select s.*, coalesce(r.units_returned, 0) as units_returned
    from sold s left join returned r using (stock_code, day)
)

select
    stock_code,
    day + interval 1 day as event_ts,
    round(price, 2) as price,
    sum(units) over (partition by stock_code order by day range between interval 6 days preceding and current row) as units_7d,
    sum(units) over (partition by stock_code order by day range between interval 29 days preceding and current row) as units_30d,
    round(coalesce(sum(units_returned) over to_date / nullif(sum(units) over to_date, 0), 0), 4)::DOUBLE as return_rate
from days
window to_date as (partition by stock_code order by day rows between unbounded preceding and current row)
