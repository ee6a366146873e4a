"""The extraction queue: no more jobs submitted than the runner can start, handed-back jobs first."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from flows.scheduling import JobQueue


class FifoRunner:
    """A runner that finishes its jobs in the order they were submitted; a job's result is its name, and
    a job named ``X+`` hands back ``X1`` and ``X2``."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.most_running = 0
        self._running: list[tuple[Future, str]] = []

    def submit(self, job: str) -> Future:
        future: Future = Future()
        self.started.append(job)
        self._running.append((future, job))
        self.most_running = max(self.most_running, len(self._running))
        return future

    def first_done(self, futures: list[Future]) -> Future:
        future, job = self._running.pop(0)
        assert future in futures
        future.set_result(job)
        return future

    @staticmethod
    def handed_back(result: str) -> list[str]:
        return [result[:-1] + "1", result[:-1] + "2"] if result.endswith("+") else []


def test_handed_back_jobs_start_before_the_jobs_still_waiting():
    runner = FifoRunner()
    queue = JobQueue(2, runner.submit, runner.first_done, runner.handed_back)
    queue.add(["A+", "B"])
    queue.add(["C", "D"])
    queue.add_result("planning failed")
    assert runner.started == ["A+", "B"]  # the runner can start two: the others wait here, not in its queue
    assert queue.drain() == ["A+", "B", "C", "D", "planning failed", "A1", "A2"]  # in the order added
    assert runner.started == ["A+", "B", "A1", "A2", "C", "D"]  # A's shards before C and D
    assert runner.most_running == 2


class ShardingRunner(FifoRunner):
    """Like ``FifoRunner``, but a job named ``X+`` hands back ``X:<size>`` jobs of the sizes in ``SHARDS``."""

    SHARDS = {"A+": [4, 3, 1], "B+": [4, 2, 1]}

    def handed_back(self, result: str) -> list[str]:  # type: ignore[override]
        return [f"{result[:-1]}:{size}" for size in self.SHARDS.get(result, [])]


def _size(job: str) -> int:
    return int(job.partition(":")[2] or 0)


def test_the_largest_handed_back_job_starts_first():
    runner = ShardingRunner()
    queue = JobQueue(2, runner.submit, runner.first_done, runner.handed_back, weight=_size)
    queue.add(["A+", "B+", "C"])
    queue.drain()
    # A's shards wait while B lists; then the largest of all waiting go first, C (not handed back) last
    assert runner.started == ["A+", "B+", "A:4", "B:4", "A:3", "B:2", "B:1", "A:1", "C"]  # ties: latest first


def test_without_a_weight_the_latest_handed_back_start_first():
    runner = ShardingRunner()
    queue = JobQueue(2, runner.submit, runner.first_done, runner.handed_back)
    queue.add(["A+", "B+", "C"])
    queue.drain()
    assert runner.started == ["A+", "B+", "A:4", "B:4", "B:2", "B:1", "A:3", "A:1", "C"]


def test_without_a_capacity_every_job_is_submitted_at_once():
    runner = FifoRunner()
    queue = JobQueue(None, runner.submit, runner.first_done, runner.handed_back)
    queue.add(["A+", "B", "C"])
    assert runner.started == ["A+", "B", "C"]
    assert queue.drain() == ["A+", "B", "C", "A1", "A2"]
    assert runner.started == ["A+", "B", "C", "A1", "A2"]


def test_a_capacity_below_one_is_refused():
    with pytest.raises(ValueError, match="capacity"):
        JobQueue(0, FifoRunner().submit, FifoRunner().first_done, FifoRunner.handed_back)


def test_the_runners_capacity_is_its_threads_and_unknown_for_a_cluster_of_ones_own():
    from flows.nightly import runner_capacity
    from flows.settings import RunnerSettings, Settings

    assert runner_capacity(Settings(runner=RunnerSettings(max_workers=6))) == 6
    assert runner_capacity(Settings(runner=RunnerSettings(kind="dask", dask_workers=3,
                                                          dask_threads_per_worker=4))) == 12
    assert runner_capacity(Settings(runner=RunnerSettings(kind="dask", address="tcp://10.0.0.5:8786"))) is None
