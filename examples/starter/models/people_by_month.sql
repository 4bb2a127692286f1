-- A first model: edit it, then run `tandem build`.
select date_trunc('month', signed_up) as month, count(*) as people
from {{ ref('people') }}
group by 1
