-- What was known about a customer right after each of their orders:
-- recency, frequency, monetary value and their favourite category so far.
-- One row per customer and order time: the feature store joins training
-- rows to the latest row at or before their timestamp. Two invoices in the
-- same minute are one moment: only the row that counts both is kept
-- (otherwise the training set and the online store could each pick a
-- different one of the two).
{{ config(materialized='table', tags=['features']) }}

with lines as (
    select customer_id, invoice_no, invoiced_at, line_amount, {{ product_category('description') }} as category
    from {{ ref('order_lines') }}
    where customer_id is not null
),

orders as (
    select customer_id, invoice_no, min(invoiced_at) as ordered_at, sum(line_amount)::DOUBLE as amount,
           mode(category) as main_category
    from lines
    group by customer_id, invoice_no
),

after_each_order as (
    select
        customer_id,
        ordered_at as event_ts,
        count(*) over so_far as frequency,
        round(sum(amount) over so_far, 2) as monetary,
        round(avg(amount) over so_far, 2) as avg_order_value,
        date_diff('day', lag(ordered_at) over by_time, ordered_at) as days_since_prev_order,
        mode(main_category) over so_far as favourite_category
    from orders
    window by_time as (partition by customer_id order by ordered_at),
           so_far as (partition by customer_id order by ordered_at rows between unbounded preceding and current row)
)

select * from after_each_order
qualify row_number() over (partition by customer_id, event_ts order by frequency desc) = 1
