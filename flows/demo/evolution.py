"""The demo estate's calendar: what changes from one night to the next, as a pure function of the night.

The estate has to look alive on *any* run date (a demo run lands the week before whatever night it is
given), so nothing here happens once at a fixed date: every change recurs, and its timing is derived from
the night's ordinal, the seed and the machine's slot alone. Any window of nights therefore shows the same
kind of activity, a night always looks the same however many times and in whatever order it is generated,
and the estate neither grows nor shrinks over time.

- Churn: about a fifth of the cloud VM slots hold short-lived machines (mostly slots whose usual case is
  protected: most new machines do get an EDR). Each such slot runs a cycle of
  ``CYCLE_DAYS``: a new machine (new name and ids, a new *generation*) is launched in the day before the
  cycle's first night, runs for the cycle minus ``GAP_DAYS``, and is decommissioned; the slot stays empty
  until the next cycle. About 1% of the estate is launched and about as much decommissioned every night.
  An EC2 instance terminated in the hour before the run is still listed, as ``terminated``.
- Onboarding: a new machine starts without EDR (unknown on its launch night when the inventory agent has
  not reported yet, else not_installed) and gets it ``ONBOARDING_NIGHTS`` after its launch. Slots whose
  usual case is not_installed or unknown never get one: those machines stay unprotected.
- Breakage: every night a handful of the protected long-lived machines whose evidence can fail (an MDE
  extension, an EDR service) break (at least one, so "newly unprotected" is never empty); each stays
  broken for ``BROKEN_NIGHTS``, then recovers.
- Plans: the Plan 1 subscription runs Plan 2 from Wednesday to Saturday every week (upgraded Wednesday
  afternoon, downgraded Saturday afternoon), so the plan and its cost change within every week.
- Exemptions: a couple of exemptions are renewed every fortnight, so one always expires within 14 days.

Per-machine randomness is drawn with ``unit`` (one hash per decision) rather than a seeded
``random.Random``: it is evaluated for every machine on every night and must stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flows.demo.common import rng_for, run_time, unit

# Share of the cloud VM slots holding short-lived machines, by the slot's usual case (none for exempt or
# not_applicable ones): about a fifth of the estate, one in seven new machines never protected.
CHURN_SHARE = {"protected": 0.22, "unhealthy": 0.1, "not_installed": 0.1, "unknown": 0.1}
CYCLE_DAYS = (10, 30)  # a short-lived slot's cycle, inclusive range: ~1% of the estate launched a night
GAP_DAYS = ((1, 0.5), (2, 0.3), (3, 0.2))  # nights a slot stays empty between two machines
ONBOARDING_NIGHTS = ((1, 0.35), (2, 0.30), (3, 0.20), (4, 0.15))  # launch -> EDR reporting healthy
AWAITING_HOURS = 8.0  # launched less than this before the run: no inventory yet on the launch night
TERMINATED_LISTED = 0.4  # EC2 terminations in the hour before the run, still listed as terminated
BREAK_SHARE = 0.006  # of the breakable machines, newly broken each night (on average; at least one)
BROKEN_NIGHTS = ((1, 0.2), (2, 0.3), (3, 0.25), (4, 0.15), (5, 0.1))
LONGEST_BREAK = max(nights for nights, _ in BROKEN_NIGHTS)
TRIAL_WEEKDAYS = frozenset({3, 4, 5})  # nights (Thu, Fri, Sat 02:00) the Plan 1 subscription runs Plan 2
RENEWAL_DAYS = 14  # renewed exemptions run for two weeks at a time

# Phases: how tonight differs from the machine's usual self (``PlannedMachine.phase``).
PHASES = (
    "new",  # launched since the previous night (unknown or not_installed whatever its usual case)
    "onboarding",  # launched earlier, its EDR not there yet (not_installed)
    "onboarded",  # its EDR appeared tonight (the usual case from now on)
    "broken",  # its EDR failed since the previous night or still is (unhealthy)
    "recovered",  # its EDR works again tonight (protected)
    "terminated",  # an EC2 instance terminated within the hour, listed as terminated (unknown)
)


def pick(point: float, options: tuple[tuple[int, float], ...]) -> int:
    """Map a uniform point onto weighted integer options."""
    total = sum(weight for _, weight in options)
    point *= total
    for value, weight in options:
        point -= weight
        if point < 0:
            return value
    return options[-1][0]


@dataclass(frozen=True)
class Cycle:
    """A short-lived slot's cycle: ``days`` long, the first starting ``offset`` nights into the calendar."""

    days: int
    offset: int


@dataclass(frozen=True)
class Life:
    """One generation of a short-lived slot: from its launch night to its first night gone."""

    generation: int
    launched_on: date  # first night it is listed
    retired_on: date  # first night it is no longer running (at most listed as terminated)
    launched_at: datetime  # in the 24 hours before the launch night's run
    onboarding_nights: int  # nights after the launch night when its EDR first reports
    terminated_at: datetime | None  # EC2: terminated within the hour before the retirement night's run

    @property
    def awaiting_inventory(self) -> bool:
        """On the launch night, no inventory agent has reported yet."""
        return run_time(self.launched_on) - self.launched_at < timedelta(hours=AWAITING_HOURS)

    def alive(self, night: date) -> bool:
        return self.launched_on <= night < self.retired_on


def churn_cycle(seed: int, index: int, case: str) -> Cycle | None:
    """The slot's cycle when it holds short-lived machines (decided once per slot, from its usual case)."""
    if unit(seed, index, "churn") >= CHURN_SHARE.get(case, 0.0):
        return None
    low, high = CYCLE_DAYS
    days = low + int(unit(seed, index, "cycle") * (high - low + 1))
    return Cycle(days, int(unit(seed, index, "cycle-offset") * days))


def life_on(seed: int, index: int, cycle: Cycle, night: date) -> Life:
    """The generation whose cycle contains ``night`` (it may already be gone: see ``Life.alive``)."""
    generation = (night.toordinal() - cycle.offset) // cycle.days
    first = date.fromordinal(cycle.offset + generation * cycle.days)
    gap = pick(unit(seed, index, generation, "gap"), GAP_DAYS)
    retired = first + timedelta(days=cycle.days - gap)
    before_run = 0.5 + 23.0 * unit(seed, index, generation, "launch-hour")
    terminated = None
    if unit(seed, index, generation, "terminated-listed") < TERMINATED_LISTED:
        terminated = run_time(retired) - timedelta(minutes=5 + 50 * unit(seed, index, generation, "terminated"))
    return Life(
        generation=generation,
        launched_on=first,
        retired_on=retired,
        launched_at=(run_time(first) - timedelta(hours=before_run)).replace(microsecond=0),
        onboarding_nights=pick(unit(seed, index, generation, "onboarding"), ONBOARDING_NIGHTS),
        terminated_at=terminated.replace(microsecond=0) if terminated else None,
    )


def broken_on(seed: int, breakable: list[int], night: date) -> set[int]:
    """The slots (of ``breakable``) whose EDR is failing on ``night``: an episode started on that night or
    one of the few before it and still lasts."""
    n = night.toordinal()
    order = sorted(breakable, key=lambda index: unit(seed, index, "break-order"))
    broken: set[int] = set()
    for start in range(n - LONGEST_BREAK + 1, n + 1):
        for index in _breaking(seed, order, start):
            if start + pick(unit(seed, index, "break-nights", start), BROKEN_NIGHTS) > n:
                broken.add(index)
    return broken


def _breaking(seed: int, order: list[int], night: int) -> list[int]:
    """The slots whose EDR breaks on the night with ordinal ``night``: at least one, and none that could still
    be broken from an earlier night.

    The breakable slots, in a seeded order, are taken in consecutive blocks night after night; a night
    breaks a random part of its block. Blocks of ``LONGEST_BREAK + 1`` consecutive nights never overlap,
    so what breaks tonight was working last night.
    """
    if not order:
        return []
    block = min(max(1, round(2 * BREAK_SHARE * len(order))), max(1, len(order) // (LONGEST_BREAK + 1)))
    first = night * block % len(order)
    candidates = [order[(first + k) % len(order)] for k in range(block)]
    rng = rng_for(seed, "break", night)
    return rng.sample(candidates, 1 + int(rng.random() * len(candidates)))


def servers_plan(plan: str, night: date) -> str:
    """The Defender for Servers plan a subscription runs on ``night``: Plan 1 runs Plan 2 mid-week."""
    if plan == "P1" and night.weekday() in TRIAL_WEEKDAYS:
        return "P2"
    return plan


def plan_changed_at(plan: str, night: date) -> datetime | None:
    """When the subscription's servers plan last changed before ``night`` (``None``: not in the calendar)."""
    if plan != "P1":
        return None
    weekday = 2 if night.weekday() in TRIAL_WEEKDAYS else 5  # Wednesday up, Saturday down
    back = (night.weekday() - weekday) % 7 or 7
    return datetime.combine(night - timedelta(days=back), time(14, 0), tzinfo=UTC)


def renewed_until(seed: int, index: int, night: date) -> date:
    """A fortnightly renewed exemption's end date: 1-14 days ahead, the same for two weeks, then renewed."""
    offset = int(unit(seed, index, "renewal") * RENEWAL_DAYS)
    n = night.toordinal()
    return date.fromordinal(n + 1 + (offset - n - 1) % RENEWAL_DAYS)
