select line_id, invoice_no, stock_code, -quantity as quantity_returned, invoiced_at as cancelled_at,
       customer_id, country, -line_amount as amount_refunded
from {{ ref('stg_retail_lines') }}
where is_cancellation
  and stock_code not in (select stock_code from {{ ref('non_product_codes') }})
