-- Training rows for "will this customer buy again within 30 days?": one
-- per order, labelled by whether another order followed within 30 days.
-- Orders in the last 30 days of the data are left out: their answer is
-- not known yet.
{{ config(materialized='table', tags=['features']) }}

with invoices as (
    select customer_id, min(invoiced_at) as ordered_at
    from {{ ref('order_lines') }}
    where customer_id is not null
    group by customer_id, invoice_no
),

-- Two invoices in the same minute are one order: otherwise the second
-- would label the first "bought again".
orders as (
    select distinct customer_id, ordered_at from invoices
),

labelled as (
    select customer_id, ordered_at,
           lead(ordered_at) over (partition by customer_id order by ordered_at) as next_order_at
    from orders
)

select
    customer_id,
    ordered_at as event_timestamp,
    coalesce(next_order_at <= ordered_at + interval 30 days, false) as bought_again_30d
from labelled
where ordered_at <= (select max(ordered_at) from orders) - interval 30 days
