"""Strict config loading: typos are rejected with the field path and the valid keys."""

from dataclasses import dataclass, field

import pytest

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
