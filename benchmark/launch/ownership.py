"""Claims from the launch's side: claim a run right before starting it, judge another's claim.

A launch claims each run (:mod:`benchmark.engine.claim`) just before it submits or starts it, and
hands the claim to the job (the job's ``grant`` is the launch's token). A run another launch or
job owns is left alone and reported (``owned by launch X / pid Y on host Z``); a claim whose owner
is gone (SIGKILLed launch or job) is taken over. Whether a claim's SLURM job (or a plugin's) still
lives is asked of its executor.
"""

from __future__ import annotations

from benchmark.engine import claim as claims
from benchmark.engine import run_layout
from benchmark.engine.run_reader import read_run
from benchmark.launch.executor import EXECUTORS, LaunchPlan, LaunchReport
from benchmark.launch.record import last_submission


def judge(claim: dict) -> bool | None:
    """Whether the job a claim names is alive, by its executor; None when no executor here can tell."""
    name = claim.get("executor")
    if name not in EXECUTORS:
        return None
    return EXECUTORS[name].claim_alive(claim)


def live_owner(run_dir) -> tuple[dict | None, bool | None]:
    """``(claim, alive)`` of the run's claim if its owner is alive (True) or undecidable (None);
    ``(None, False)`` when unclaimed or its owner is gone."""
    claim = claims.read_claim(run_dir)
    if claim is None:
        return None, False
    state = claims.alive(claim, judge)
    return (claim, state) if state is not False else (None, False)


def claim_before_start(run, plan: LaunchPlan, report: LaunchReport) -> dict | None:
    """This launch's claim of ``run``, or None: owned by someone alive (reported in
    ``report.owned``) or done meanwhile (``report.skipped_done``)."""
    try:
        claim = claims.acquire(run.run_dir, claims.owner("launch", launch_id=plan.launch_id), judge)
    except claims.ClaimError as exc:
        if exc.owner is None:
            raise
        report.owned[run.run_id] = claims.describe(exc.owner)
        return None
    if read_run(run.run_dir).state == run_layout.DONE:  # finished by another launch since we planned
        claims.release(run.run_dir, claim["token"])
        report.skipped_done.append(run.run_id)
        return None
    return claim


def ended_elsewhere(run) -> str | None:
    """For a run this launch does not start: ``done``; ``active`` (claimed or its job runs);
    None when nobody is on it."""
    if read_run(run.run_dir).state == run_layout.DONE:
        return "done"
    if live_owner(run.run_dir)[0] is not None:
        return "active"
    sub = last_submission(run.run_dir)
    name = sub.get("executor") if sub else None
    if name in EXECUTORS:
        view = EXECUTORS[name].observe({run.run_id: sub}).get(run.run_id)
        if view is not None and view.active:
            return "active"
    return None
