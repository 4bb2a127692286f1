{#- Money is kept as DECIMAL(18,2) pounds so sums do not drift. -#}
{% macro money(expr) -%}
    round(({{ expr }})::decimal(18, 4), 2)::decimal(18, 2)
{%- endmacro %}

{#- The product code families that are real products: five digits, with an
    optional letter suffix, or the DCGS gift-shop range. -#}
{% macro is_product_code(col) -%}
    (regexp_matches({{ col }}, '^[0-9]{5}') or {{ col }} like 'DCGS%' or {{ col }} like 'gift_%')
{%- endmacro %}

{#- Columns of an interaction table, returned as a list for loops. -#}
{% macro interaction_measures() -%}
    {{ return(['n_orders', 'quantity', 'revenue']) }}
{%- endmacro %}
