"""Fine-tuning another run's network on other classes: a new classifier, every other weight loaded.

Paper 002's Table 4 fine-tunes 32-frame Kinetics models (400 classes) on UCF101, HMDB51, Jester and
Mini-SSv2. ``init_from`` loads all of the other run's weights; when the class count differs, and
only then, the classifier keeps this run's fresh initialisation. The classifier is the network's
last ``nn.Linear`` (every built-in model has exactly one: the head's ``fc``), and it is replaced
only if its input width is the same, so a different backbone or module still fails the strict load
with a message naming the parameter.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from benchmark.engine.tolerant_read import read_config


def classifier_name(model: nn.Module) -> str | None:
    """The module path of the network's classifier (its last ``nn.Linear``), or ``None``."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    return names[-1] if names else None


def with_new_classifier(model: nn.Module, state_dict: dict[str, torch.Tensor]
                        ) -> tuple[dict[str, torch.Tensor], tuple[int, int] | None]:
    """``state_dict`` with the classifier's weight and bias taken from ``model`` when the two differ
    only in the class count; also returns ``(checkpoint classes, model classes)`` then, else ``None``."""
    name = classifier_name(model)
    if name is None:
        return state_dict, None
    target = model.state_dict()
    weight, bias = f"{name}.weight", f"{name}.bias"
    old, new = state_dict.get(weight), target.get(weight)
    if old is None or new is None or old.dim() != 2 or old.shape[1] != new.shape[1] or old.shape[0] == new.shape[0]:
        return state_dict, None
    replaced = dict(state_dict)
    replaced[weight] = target[weight]
    if bias in target and bias in state_dict and tuple(state_dict[bias].shape) == (old.shape[0],):
        replaced[bias] = target[bias]
    return replaced, (int(old.shape[0]), int(new.shape[0]))


def trained_as(run_dir: str | Path) -> str:
    """`` (a TAM-ResNet50-f32 run)`` from the run's ``config.yaml``, for messages; empty if unknown."""
    config, _ = read_config(run_dir)
    model = config.get("model") if isinstance(config, dict) else None
    return f" (a {model} run)" if isinstance(model, str) else ""
