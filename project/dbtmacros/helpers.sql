{#- dbt's global helper macros that packages call by bare name. -#}
{% macro should_store_failures() -%}
{%- set v = config.get('store_failures') -%}
{%- if v is none %}{% set v = flags.STORE_FAILURES %}{% endif -%}
{{ return(v) }}
{%- endmacro %}
{% macro should_full_refresh() -%}
{%- set v = config.get('full_refresh') -%}
{%- if v is none %}{% set v = flags.FULL_REFRESH %}{% endif -%}
{{ return(v) }}
{%- endmacro %}
{% macro load_relation(relation) -%}
{{ return(adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier)) }}
{%- endmacro %}
{% macro load_cached_relation(relation) -%}
{{ return(load_relation(relation)) }}
{%- endmacro %}
{% macro get_where_subquery(relation) -%}
{%- set where = config.get('where') -%}
{%- if where -%}
{{ return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") }}
{%- else -%}
{{ return(relation) }}
{%- endif -%}
{%- endmacro %}
