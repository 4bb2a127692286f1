{#- A coarse category from an Online Retail product description (the data
    has none): the first keyword that matches, else 'other'. -#}
{% macro product_category(description) -%}
case
    when {{ description }} similar to '.*(BAG|PURSE|TOTE).*' then 'bags'
    when {{ description }} similar to '.*(CANDLE|T-LIGHT|LANTERN|LIGHT).*' then 'lights & candles'
    when {{ description }} similar to '.*(CARD|WRAP|PAPER|RIBBON|TAPE).*' then 'cards & wrapping'
    when {{ description }} similar to '.*(MUG|CUP|PLATE|BOWL|TEA|CAKE|JAR|BOTTLE|LUNCH|BAKING|SPOON).*' then 'kitchen'
    when {{ description }} similar to '.*(HEART|SIGN|FRAME|CLOCK|DECORATION|ORNAMENT|HANGING|WALL).*' then 'home decor'
    when {{ description }} similar to '.*(CHRISTMAS|EASTER|VINTAGE).*' then 'seasonal'
    when {{ description }} similar to '.*(TOY|GAME|DOLL|CHILDREN|PLAYHOUSE).*' then 'toys'
    when {{ description }} similar to '.*(NECKLACE|BRACELET|EARRINGS|RING).*' then 'jewellery'
    else 'other'
end
{%- endmacro %}
