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

-- An order's main category: the one with the most lines; a tie goes to the
-- first in alphabetical order (never to whichever the engine meets first).
order_categories as (
    select customer_id, invoice_no, category, count(*) as n_lines
    from lines
    group by all
),

orders as (
    select l.customer_id, l.invoice_no, min(l.invoiced_at) as ordered_at, sum(l.line_amount)::DOUBLE as amount,
           (select first(c.category order by c.n_lines desc, c.category)
              from order_categories c
             where c.customer_id = l.customer_id and c.invoice_no = l.invoice_no) as main_category
    from lines l
    group by l.customer_id, l.invoice_no
),

-- The favourite category after each order: the main category of most of
-- the orders so far; a tie goes to the category that reached that count
-- first (then alphabetical order, for orders in the same minute).
running as (
    select customer_id, invoice_no, ordered_at, main_category,
           count(*) over (partition by customer_id, main_category order by ordered_at, invoice_no
                          rows between unbounded preceding and current row) as n_so_far
    from orders
),

favourite as (
    select o.customer_id, o.ordered_at,
           first(r.main_category order by r.n_so_far desc, r.ordered_at, r.invoice_no, r.main_category) as favourite_category
    from (select distinct customer_id, ordered_at from orders) o
    join running r on r.customer_id = o.customer_id and r.ordered_at <= o.ordered_at
    group by all
),

after_each_order as (
    select
        customer_id,
        ordered_at as event_ts,
        count(*) over so_far as frequency,
        round(sum(amount) over so_far, 2) as monetary,
        round(avg(amount) over so_far, 2) as avg_order_value,
        date_diff('day', lag(ordered_at) over by_time, ordered_at) as days_since_prev_order
    from orders
    window by_time as (partition by customer_id order by ordered_at, invoice_no),
           so_far as (partition by customer_id order by ordered_at, invoice_no rows between unbounded preceding and current row)
)

select a.*, f.favourite_category
from after_each_order a
join favourite f on f.customer_id = a.customer_id and f.ordered_at = a.event_ts
qualify row_number() over (partition by a.customer_id, a.event_ts order by a.frequency desc) = 1
