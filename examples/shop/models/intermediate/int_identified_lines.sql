-- Lines of customers who signed in: the only ones a recommender can learn from.
select *
from {{ ref('order_lines') }}
where customer_id is not null
