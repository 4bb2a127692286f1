{#- Tandem's implementation, for DuckDB, of the cross-database macros of
    dbt's global project: dbt.date_trunc(...), dbt.type_string(), ...
    Packages override them through adapter.dispatch. -#}

{% macro type_string() %}varchar{% endmacro %}
{% macro type_timestamp() %}timestamp{% endmacro %}
{% macro type_float() %}double{% endmacro %}
{% macro type_numeric() %}numeric(28, 6){% endmacro %}
{% macro type_bigint() %}bigint{% endmacro %}
{% macro type_int() %}integer{% endmacro %}
{% macro type_boolean() %}boolean{% endmacro %}

{% macro current_timestamp() %}now(){% endmacro %}
{% macro current_timestamp_backcompat() %}current_timestamp::timestamp{% endmacro %}
{% macro current_timestamp_in_utc_backcompat() %}(now() at time zone 'UTC'){% endmacro %}
{% macro snapshot_get_time() %}now(){% endmacro %}

{% macro date_trunc(datepart, date) %}date_trunc('{{ datepart }}', {{ date }}){% endmacro %}
{% macro dateadd(datepart, interval, from_date_or_timestamp) %}({{ from_date_or_timestamp }} + to_{{ _interval_unit(datepart) }}(cast({{ interval }} as bigint){% if datepart == 'quarter' %} * 3{% elif datepart == 'week' %} * 7{% endif %})){% endmacro %}
{% macro _interval_unit(datepart) -%}
{%- set p = datepart | lower -%}
{%- if p in ('quarter',) %}months{% elif p == 'week' %}days{% elif p.endswith('s') %}{{ p }}{% else %}{{ p }}s{% endif -%}
{%- endmacro %}
{% macro datediff(first_date, second_date, datepart) %}date_diff('{{ datepart }}', cast({{ first_date }} as timestamp), cast({{ second_date }} as timestamp)){% endmacro %}
{% macro last_day(date, datepart) %}cast(date_trunc('{{ datepart }}', {{ date }}) + interval 1 {{ datepart }} - interval 1 day as date){% endmacro %}
{% macro date(year, month, day) %}make_date({{ year }}, {{ month }}, {{ day }}){% endmacro %}

{% macro safe_cast(field, type) %}try_cast({{ field }} as {{ type }}){% endmacro %}
{% macro cast(field, type) %}cast({{ field }} as {{ type }}){% endmacro %}
{% macro cast_bool_to_text(field) %}cast({{ field }} as varchar){% endmacro %}
{% macro concat(fields) %}({{ fields | join(' || ') }}){% endmacro %}
{% macro hash(field) %}md5(cast({{ field }} as varchar)){% endmacro %}
{% macro split_part(string_text, delimiter_text, part_number) %}split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }}){% endmacro %}
{% macro length(expression) %}length({{ expression }}){% endmacro %}
{% macro position(substring_text, string_text) %}position({{ substring_text }} in {{ string_text }}){% endmacro %}
{% macro replace(field, old_chars, new_chars) %}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){% endmacro %}
{% macro right(string_text, length_expression) %}right({{ string_text }}, {{ length_expression }}){% endmacro %}
{% macro escape_single_quotes(expression) %}{{ expression | replace("'", "''") }}{% endmacro %}
{% macro string_literal(value) %}'{{ value | replace("'", "''") }}'{% endmacro %}
{% macro equals(expr1, expr2) %}(({{ expr1 }} = {{ expr2 }}) or ({{ expr1 }} is null and {{ expr2 }} is null)){% endmacro %}

{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}
{%- if limit_num -%}
array_to_string(list_slice(list({{ measure }}{% if order_by_clause %} {{ order_by_clause }}{% endif %}), 1, {{ limit_num }}), {{ delimiter_text }})
{%- else -%}
string_agg({{ measure }}, {{ delimiter_text }}{% if order_by_clause %} {{ order_by_clause }}{% endif %})
{%- endif -%}
{%- endmacro %}
{% macro any_value(expression) %}any_value({{ expression }}){% endmacro %}
{% macro bool_or(expression) %}bool_or({{ expression }}){% endmacro %}

{% macro except() %}except{% endmacro %}
{% macro intersect() %}intersect{% endmacro %}

{% macro array_construct(inputs=[], data_type=none) -%}
{%- if inputs | length > 0 %}[{{ inputs | join(', ') }}]{% else %}cast([] as {{ data_type or 'integer' }}[]){% endif -%}
{%- endmacro %}
{% macro array_append(array, new_element) %}list_append({{ array }}, {{ new_element }}){% endmacro %}
{% macro array_concat(array_1, array_2) %}list_concat({{ array_1 }}, {{ array_2 }}){% endmacro %}

{% macro generate_series(upper_bound) %}select unnest(generate_series(1, {{ upper_bound }})) as generated_number{% endmacro %}
{% macro get_powers_of_two(upper_bound) %}{{ return(((upper_bound | float) ** 0.5) | int + 1) }}{% endmacro %}
