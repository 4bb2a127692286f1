{#- Read once into a table: every mart below reads these lines, and the raw
    files are gzipped CSV. -#}
{{ config(materialized='table') }}

with raw as (
    select * from {{ source('retail', 'transactions') }}
),

deduplicated as (
    -- The export repeats some lines verbatim within an invoice: keep one.
    select *
    from raw
    qualify row_number() over (
        partition by InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country
    ) = 1
)

select
    InvoiceNo || '-' || trim(StockCode) || '-'
        || row_number() over (partition by InvoiceNo, trim(StockCode) order by Quantity, UnitPrice, Description) as line_id,
    InvoiceNo as invoice_no,
    trim(StockCode) as stock_code,
    nullif(trim(Description), '') as description,
    Quantity as quantity,
    InvoiceDate as invoiced_at,
    {{ money('UnitPrice') }} as unit_price,
    CustomerID::integer as customer_id,
    Country as country,
    starts_with(InvoiceNo, 'C') as is_cancellation,
    {{ money('Quantity * UnitPrice') }} as line_amount
from deduplicated
