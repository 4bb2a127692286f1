{%- set windows = [30, 90] -%}

with lines as (
    select * from {{ ref('int_identified_lines') }}
),

latest as (
    select max(invoiced_at) as at from lines
)

select
    customer_id,
    stock_code,
    count(distinct invoice_no) as n_orders,
    sum(quantity) as quantity,
    {{ money('sum(line_amount)') }} as revenue,
    min(invoiced_at) as first_bought_at,
    max(invoiced_at) as last_bought_at,
    {%- for days in windows %}
    count(distinct invoice_no) filter (where invoiced_at > latest.at - interval {{ days }} day) as n_orders_last_{{ days }}d
    {{- "," if not loop.last }}
    {%- endfor %}
from lines, latest
group by customer_id, stock_code
