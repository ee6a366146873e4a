-- Fails when the report currency has no price for a paid plan: costs would silently be null.
select plan
from (values ('p1'), ('p2')) as plans(plan)
where not exists (select 1 from config.price_book as p where p.plan = plans.plan)
