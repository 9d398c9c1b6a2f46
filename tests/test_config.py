"""Strict config loading: typos are rejected with the field path and the valid keys."""

from dataclasses import dataclass, field

import pytest
import yaml

from benchmark.errors import ConfigError
from benchmark.strict_config import from_dict, load_yaml, to_dict


@dataclass
class Optim:
    lr: float = 0.01
    milestones: list[int] = field(default_factory=list)


@dataclass
class Run:
    model: str
    epochs: int = 1
    optim: Optim = field(default_factory=Optim)
    init_from: str | None = None


def test_nested_unknown_key_names_path_and_valid_keys():
    with pytest.raises(ConfigError) as err:
        from_dict(Run, {"model": "x", "optim": {"lrr": 0.1}}, "run.yaml: ")
    msg = str(err.value)
    assert "run.yaml: optim" in msg and "'lrr'" in msg
    assert "did you mean 'lr'" in msg and "valid keys: lr, milestones" in msg


def test_types_and_missing_keys():
    run = from_dict(Run, {"model": "m", "optim": {"lr": 1, "milestones": [10, 20]}})
    assert run.optim.lr == 1.0 and isinstance(run.optim.lr, float)
    assert run.optim.milestones == [10, 20]
    with pytest.raises(ConfigError, match="missing required key.*model"):
        from_dict(Run, {"epochs": 2})
    with pytest.raises(ConfigError, match=r"epochs: expected an integer, got 'two'"):
        from_dict(Run, {"model": "m", "epochs": "two"})
    with pytest.raises(ConfigError, match=r"milestones\[1\]: expected an integer"):
        from_dict(Run, {"model": "m", "optim": {"milestones": [1, 2.5]}})
    assert to_dict(run) == {"model": "m", "epochs": 1, "optim": {"lr": 1.0, "milestones": [10, 20]},
                            "init_from": None}


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: a\noptim: [1, 2\nepochs: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_yaml(path)


# --------------------------------------------------------------------------- issue 23's config gaps
def test_numeric_fields_out_of_range_are_one_line_in_train_and_in_plan(tmp_path, capsys):
    from benchmark.cli import main

    run = tmp_path / "run.yaml"
    run.write_text("model: TSN-ResNet18-f8\ndataset: synthetic-temporal\nseed: -1\n")
    assert main(["train", str(run)]) == 2
    assert capsys.readouterr().err.strip() == f"stbench train: error: {run}: seed must be in 0..4294967295, got -1"
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "n", "output": str(tmp_path / "out"), "datasets": ["synthetic-temporal"],
                                   "axes": {"modules": ["TSN"], "backbones": ["ResNet18"], "frames": [8], "seeds": [-1]}}))
    assert main(["plan", str(exp)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed must be in 0..4294967295, got -1" in err and str(exp) in err
    for setting, value in (("optim: {weight_decay: -0.1}", "optim.weight_decay"), ("schedule: {gamma: 0}", "schedule.gamma"),
                         ("optim: {momentum: -1}", "optim.momentum")):
        run.write_text(f"model: TSN-ResNet18-f8\ndataset: synthetic-temporal\n{setting}\n")
        assert main(["train", str(run)]) == 2
        assert f"{run}: {value}: must be" in capsys.readouterr().err


def test_duplicate_keys_and_empty_files_are_named(tmp_path, capsys):
    from benchmark.cli import main

    run = tmp_path / "run.yaml"
    run.write_text("model: TSN-ResNet18-f8\nseed: 1\ndataset: synthetic-temporal\nseed: 2\n")
    assert main(["train", str(run)]) == 2
    assert f"{run}:4: invalid YAML (duplicate key 'seed' (lines 2 and 4))" in capsys.readouterr().err
    nested = tmp_path / "exp.yaml"
    nested.write_text("name: n\naxes:\n  modules: [TSN]\n  frames: [8]\n  modules: [TAM]\n")
    assert main(["plan", str(nested)]) == 2
    assert "duplicate key 'modules' (lines 3 and 5)" in capsys.readouterr().err
    for empty in ("", "# only a comment\n\n"):
        for command, path in (("train", run), ("plan", nested)):
            path.write_text(empty)
            assert main([command, str(path)]) == 2
            assert capsys.readouterr().err.strip().endswith(f"{path}: the file is empty (expected settings)")
