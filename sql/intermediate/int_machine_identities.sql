-- Every identifier under which evidence about a machine can arrive: its Azure resource id (VM or Arc,
-- including Arc records merged into an EC2/GCP machine), its EC2 account:instance id and bare instance id,
-- its GCP asset name. The machine's cloud and OS family ride along, so that resolving evidence to machines
-- (int_edr_evidence: rules apply per OS family) is one join, not a second one on the machine key.
-- Grain: one row per (id_kind, id_value); each identifier belongs to exactly one machine.
-- materialized: working view (a union of projections of the machine list, which the build holds anyway: as a
-- table it was a second copy of a million long identifiers in memory through the evidence join)
select machine_key, 'azure_resource_id' as id_kind, native_id as id_value, 'native' as via, cloud, os_family
from intermediate.int_machines__unioned
where resource_kind in ('azure_vm', 'azure_arc')

union all

select a.machine_key, 'azure_resource_id', a.arc_resource_id, 'arc', m.cloud, m.os_family
from intermediate.int_arc_cloud_matches as a
join intermediate.int_machines__unioned as m using (machine_key)

union all

select machine_key, 'aws_instance', scope_id || ':' || native_id, 'native', cloud, os_family
from intermediate.int_machines__unioned
where resource_kind = 'aws_ec2'

union all

-- Defender's EC2 assessments name the instance without its account (instance ids are globally unique)
select machine_key, 'aws_instance_id', native_id, 'native', cloud, os_family
from intermediate.int_machines__unioned
where resource_kind = 'aws_ec2'

union all

select machine_key, 'gcp_asset', native_id, 'native', cloud, os_family
from intermediate.int_machines__unioned
where resource_kind = 'gcp_instance'
