{{
    config(
        materialized='incremental',
        unique_key='line_id',
        incremental_strategy='delete+insert',
        time_column='invoiced_at'
    )
}}

select l.line_id, l.invoice_no, l.stock_code, l.description, l.quantity, l.invoiced_at,
       l.unit_price, l.customer_id, l.country, l.line_amount
from {{ ref('stg_retail_lines') }} as l
where not l.is_cancellation
  and l.quantity > 0
  and l.unit_price > 0
  and l.stock_code not in (select stock_code from {{ ref('non_product_codes') }})
  and l.invoiced_at >= '{{ var("start_date") }}'
{% if var('start', none) %}
  -- A backfill: `tandem backfill order_lines --start 2011-01-01 --end 2011-02-01`
  and l.invoiced_at >= '{{ var("start") }}' and l.invoiced_at < '{{ var("end") }}'
{% elif is_incremental() %}
  -- Only lines newer than what is already loaded.
  and l.invoiced_at > (select max(invoiced_at) from {{ this }})
{% endif %}
