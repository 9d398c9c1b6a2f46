"""ImageNet initialisation of 2D backbones: torchvision's weights API or a local file.

Weights are loaded into the plain torchvision model *before* any temporal operator is inserted
or any convolution inflated, so the checkpoint keys are exactly torchvision's.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from benchmark.errors import ModelError


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local weights file: a bare state dict, or one under ``state_dict``/``model``.

    A ``module.`` prefix (DataParallel checkpoints) is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"pretrained weights file {str(path)!r} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with code objects, ...
        raise ModelError(f"cannot read pretrained weights {str(path)!r}: {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelError(f"pretrained weights {str(path)!r} do not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in data.items()}


DOWNLOAD_TIMEOUT_S = 30.0  # to connect, and between two reads


def _download_imagenet(imagenet) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights (from torch's cache, else downloaded into it with connect and
    read timeouts: torch's own download has none, and hangs on a network that drops packets); any
    failure (offline node, proxy, truncated download) is one line saying how to go on without the
    network."""
    from benchmark.models.published.download import download

    url = getattr(imagenet, "url", "")
    hint = (f"the ImageNet weights {imagenet}: fetch {url or 'the file'} where there is network and give it as a local file "
            f"(--set pretrained=/path/to/{Path(url).name or 'weights.pth'}, or put it into "
            "$TORCH_HOME/hub/checkpoints/), or train from scratch with --set pretrained=null")
    if url:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
        download(url, cached, timeout=DOWNLOAD_TIMEOUT_S, hint=hint)  # kept when already there
    try:
        return imagenet.get_state_dict(progress=False)
    except Exception as exc:  # noqa: BLE001 - a corrupt cached file, ...
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ModelError(f"the ImageNet weights {imagenet} could not be loaded ({type(exc).__name__}: {why}); {hint}") from exc


def load_backbone_weights(model: nn.Module, pretrained, *, imagenet, ignore: tuple[str, ...] = ()) -> nn.Module:
    """Load ``pretrained`` into the torchvision ``model`` in place and return it.

    ``pretrained``: None (keep the random init), ``"imagenet"`` (``imagenet``, a torchvision
    ``WeightsEnum`` member; downloaded into torch's cache on first use) or a local file path.
    Keys starting with a prefix in ``ignore`` (e.g. GoogLeNet's auxiliary heads) may be present in
    the file and are skipped; any other missing or unexpected key is an error naming it.
    """
    if pretrained is None:
        return model
    if pretrained == "imagenet":
        source = f"torchvision {imagenet}"
        state = _download_imagenet(imagenet)
    elif isinstance(pretrained, (str, Path)):
        source = str(pretrained)
        state = read_state_dict(pretrained)
    else:
        raise ModelError(f"pretrained must be None, 'imagenet' or a weights file path, got {pretrained!r}")
    state = {k: v for k, v in state.items() if not k.startswith(ignore)}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        details = "; ".join(
            f"{label}: {', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape))
            if keys
        )
        raise ModelError(f"pretrained weights {source} do not fit {type(model).__name__} ({details})")
    model.load_state_dict(state)
    return model
