"""Property-based tests of every parser of user or results-store input (hypothesis).

Property: arbitrary input gives either a valid object or a :class:`StbenchError` whose one-line
message names the file (or the source given for a mapping); never another exception. The run
directory reader goes further: it never raises at all, and names each file it cannot use.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from benchmark.data.listfile import read_frame_list, read_video_list  # noqa: E402
from benchmark.engine import run_layout, run_reader  # noqa: E402
from benchmark.engine.run_config import EvalConfig, OptimConfig, RunConfig, load_run_config  # noqa: E402
from benchmark.errors import StbenchError  # noqa: E402
from benchmark.grid import experiment_from_dict, load_experiment  # noqa: E402
from benchmark.grid.spec import Axes, ExperimentSpec  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- values a YAML file can hold --------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["", "auto", "imagenet", "TSN-ResNet18-f4",
                                                           "synthetic-temporal", "cosine", "8", "-1"]))


def values(keys: list[str]):
    """Nested YAML values whose mapping keys are mostly real field names (so parsing goes deep)."""
    key = st.one_of(st.sampled_from(keys), st.text(max_size=8), st.integers(-3, 3))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=5)), max_leaves=12)


def _names(*classes) -> list[str]:
    return sorted({f.name for c in classes for f in dataclasses.fields(c)} | {"preset", "root", "name"})


RUN_KEYS = _names(RunConfig, OptimConfig, EvalConfig)
EXP_KEYS = _names(ExperimentSpec)
AXES_KEYS = _names(Axes)


def mapping(keys: list[str], base: dict):
    """A plausible config: ``base`` with fields replaced, added or dropped at random."""
    return st.builds(
        lambda changes, drop: {**{k: v for k, v in base.items() if k not in drop}, **changes},
        st.dictionaries(st.sampled_from(keys), values(keys), max_size=4),
        st.sets(st.sampled_from(sorted(base)), max_size=2),
    )


RUN_BASE = {"model": "TSN-ResNet18-f4", "dataset": "synthetic-temporal", "pretrained": None, "epochs": 2}
AXES_BASE = {"modules": ["TSN"], "backbones": ["ResNet18"], "frames": [4]}
EXP_BASE = {"name": "p", "output": "out", "datasets": ["synthetic-temporal"], "axes": AXES_BASE}


def experiments():
    """Experiment mappings damaged at the top level, in ``axes`` or in ``run`` (each level's own keys)."""
    return st.one_of(
        mapping(EXP_KEYS, EXP_BASE),
        mapping(AXES_KEYS, AXES_BASE).map(lambda axes: {**EXP_BASE, "axes": axes}),
        mapping(RUN_KEYS, {"epochs": 2}).map(lambda run: {**EXP_BASE, "run": {
            k: v for k, v in run.items() if k not in ("model", "dataset", "run_id")}}),
        st.dictionaries(st.sampled_from(["match", "set"]), values(AXES_KEYS + RUN_KEYS), max_size=2).map(
            lambda o: {**EXP_BASE, "overrides": [o]}),
    )

raw_bytes = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode))


def assert_one_line_naming(exc: StbenchError, *names: str) -> None:
    message = str(exc)
    assert message and any(n in message for n in names), message


# -- run configs --------------------------------------------------------------------------------------
@SETTINGS
@given(mapping(RUN_KEYS, RUN_BASE))
def test_run_config_mapping_is_a_config_or_an_error_naming_the_source(data):
    try:
        cfg = load_run_config(data, where="run.yaml")
    except StbenchError as exc:
        assert_one_line_naming(exc, "run.yaml")
        return
    assert isinstance(cfg, RunConfig) and cfg.epochs >= 1 and cfg.model


@SETTINGS
@given(st.one_of(raw_bytes, mapping(RUN_KEYS, RUN_BASE).map(lambda d: yaml.safe_dump(d).encode())))
def test_run_config_file_is_a_config_or_an_error_naming_the_file(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.yaml"
        path.write_bytes(data)
        try:
            assert isinstance(load_run_config(path), RunConfig)
        except StbenchError as exc:
            assert_one_line_naming(exc, str(path))


# -- experiment YAMLs ---------------------------------------------------------------------------------
@SETTINGS
@given(experiments())
def test_experiment_mapping_is_an_experiment_or_an_error_naming_the_source(data):
    try:
        exp = experiment_from_dict(data, source="exp.yaml")
        runs = exp.runs()  # planning validates every run's config
    except StbenchError as exc:
        assert_one_line_naming(exc, "exp.yaml")
        return
    assert all(r.run_id and r.config["model"] for r in runs)


@SETTINGS
@given(st.one_of(raw_bytes, experiments().map(lambda d: yaml.safe_dump(d).encode())))
def test_experiment_file_is_an_experiment_or_an_error_naming_the_file(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exp.yaml"
        path.write_bytes(data)
        try:
            load_experiment(path).runs()
        except StbenchError as exc:
            assert_one_line_naming(exc, str(path))


# -- list files ---------------------------------------------------------------------------------------
list_lines = st.lists(st.one_of(
    st.text(max_size=30),
    st.builds(lambda a, b, c, d: f"{a} {b} {c} {d}", st.text(max_size=6), st.integers(-2, 40),
              st.integers(-2, 40), st.integers(-2, 6)),
    st.builds(lambda a, b: f"{a} {b}", st.text(max_size=6), st.integers(-2, 6)),
), max_size=6)


@SETTINGS
@given(st.one_of(raw_bytes, list_lines.map(lambda ls: "\n".join(ls).encode())), st.sampled_from([None, ",", " "]))
def test_list_files_give_entries_or_an_error_naming_the_file(data, separator):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_bytes(data)
        for read in (read_video_list, read_frame_list):
            try:
                entries = read(path, Path(tmp), 4, separator)
            except StbenchError as exc:
                assert_one_line_naming(exc, str(path))
                continue
            for e in entries:  # a bad line is an entry carrying its error, naming file and line
                assert (e.error is None and 0 <= e.label < 4) or (e.error and e.error.startswith(f"{path}:"))


# -- the run directory reader -------------------------------------------------------------------------
RUN_FILES = ("config.yaml", "state.json", "metrics.jsonl", "result.json", "predictions.csv", "launch.json",
             "checkpoints/last.pt", "checkpoints/best.pt", "checkpoints/last.prev.pt")
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10),
              st.sampled_from(list(run_layout.RUN_STATES))),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(
        st.sampled_from(["state", "reason", "epoch", "top1", "epochs", "best_top1", "submissions", "x"]),
        inner, max_size=4)), max_leaves=10)
file_content = st.one_of(raw_bytes, json_values.map(lambda v: json.dumps(v).encode()),
                         st.lists(json_values, max_size=3).map(
                             lambda vs: "".join(json.dumps(v) + "\n" for v in vs).encode()),
                         st.just(None))  # None: a directory in the file's place


@SETTINGS
@given(st.dictionaries(st.sampled_from(RUN_FILES), file_content, min_size=1, max_size=6))
def test_the_run_directory_reader_never_raises_and_names_what_it_cannot_use(files):
    from benchmark.analysis.collect import read_run_dir
    from benchmark.engine.repair import repair

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        for name, data in files.items():
            path = run / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if data is None:
                path.mkdir()
            else:
                path.write_bytes(data)
        got = run_reader.read_run(run)
        assert got.state in run_layout.RUN_STATES
        assert (got.state == run_layout.DONE) == (got.result is not None)
        if got.result is not None:
            assert isinstance(got.result, dict) and "top1" in got.result
        for problem in got.problems:
            assert problem.split(":", 1)[0].removeprefix("checkpoints/") in {Path(n).name for n in RUN_FILES}
            assert problem in (got.reason or "") or got.state == run_layout.DAMAGED
        assert run_reader.best_top1(run, got) is None or isinstance(run_reader.best_top1(run, got), int | float)
        row = read_run_dir(run)
        assert row["state"] == got.state
        try:
            findings = repair(run, dry_run=True)  # a dry run reads everything and changes nothing
        except StbenchError as exc:  # e.g. only a metrics.jsonl: not a run directory
            assert_one_line_naming(exc, str(run))
            findings = []
        assert all(f.file and f.problem for f in findings)
        assert run_reader.read_run(run) == got


# -- dataset YAMLs, cluster profiles, duplicate keys ----------------------------------------------------
DATA_KEYS = _names(__import__("benchmark.data.dataset_config", fromlist=["DataConfig"]).DataConfig)


@SETTINGS
@given(st.one_of(raw_bytes, st.dictionaries(st.sampled_from(DATA_KEYS), values(DATA_KEYS), max_size=6).map(
    lambda d: yaml.safe_dump(d).encode())))
def test_dataset_file_is_a_config_or_an_error_naming_the_file(data):
    from benchmark.data.dataset_config import resolve_data_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.yaml"
        path.write_bytes(data)
        try:
            resolve_data_config(str(path))
        except StbenchError as exc:
            assert_one_line_naming(exc, str(path), "data.yaml")


PROFILE_KEYS = ["name", "executor", "partition", "account", "qos", "gpus_per_node", "cpus_per_task", "mem_gb",
                "timeout_min", "nodes", "array_parallelism", "setup", "additional_parameters", "signal_delay_s"]


@SETTINGS
@given(st.one_of(raw_bytes, st.dictionaries(st.sampled_from(PROFILE_KEYS), values(PROFILE_KEYS), max_size=6).map(
    lambda d: yaml.safe_dump(d).encode())))
def test_cluster_profile_is_a_profile_or_an_error_naming_the_file(data):
    from benchmark.launch.cluster_profile import load_profile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cluster.yaml"
        path.write_bytes(data)
        try:
            load_profile(path)
        except StbenchError as exc:
            assert_one_line_naming(exc, str(path), "cluster.yaml")


@SETTINGS
@given(st.lists(st.sampled_from(RUN_KEYS), min_size=2, max_size=6), st.data())
def test_a_key_written_twice_is_an_error_naming_it_and_both_lines(keys, data):
    from benchmark.strict_config import load_yaml

    twice = data.draw(st.sampled_from(keys))
    lines = [f"{k}: 1" for k in dict.fromkeys(keys)] + [f"{twice}: 2"]
    first = lines.index(f"{twice}: 1") + 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.yaml"
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(StbenchError) as info:
            load_yaml(path)
    assert f"duplicate key '{twice}' (lines {first} and {len(lines)})" in str(info.value)
