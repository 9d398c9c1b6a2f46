"""TAM placement (paper 002 Table 6): how many TAMs each variant has and what they cost, by hand."""

import pandas as pd
import pytest
import torch

from benchmark.errors import ModelError
from benchmark.models import build_model, profile_model
from benchmark.models.modules.tam import TemporalAggregation
from benchmark.models.placement import placement_indices
from benchmark.package_data import resource_dir

# The tensor each TAM sees: the input of each residual block (channels, side) at 224², by hand from
# the ResNet tables (a stage's first block sees the previous stage's output, before its stride).
BLOCK_INPUTS = {
    "ResNet18": [(64, 56), (64, 56), (64, 56), (128, 28), (128, 28), (256, 14), (256, 14), (512, 7)],
    "ResNet50": [(64, 56), (256, 56), (256, 56),
                 (256, 56), (512, 28), (512, 28), (512, 28),
                 (512, 28), (1024, 14), (1024, 14), (1024, 14), (1024, 14), (1024, 14),
                 (1024, 14), (2048, 7), (2048, 7)],
}
KEPT = {  # block indices, 0 = nearest the input; top = nearest the output (the paper's wording)
    "ResNet18": {"all": range(8), "top-half": [4, 5, 6, 7], "bottom-half": [0, 1, 2, 3],
                 "uniform-half": [0, 2, 4, 6]},
    "ResNet50": {"all": range(16), "top-half": range(8, 16), "bottom-half": range(8),
                 "uniform-half": range(0, 16, 2)},
}
FRAMES = 8


def _hand_macs(backbone: str, kept) -> int:
    """Three depthwise 1×1 convs per TAM: 3·C·H·W multiply-adds per frame."""
    return sum(3 * c * s * s * FRAMES for i, (c, s) in enumerate(BLOCK_INPUTS[backbone]) if i in set(kept))


@pytest.mark.parametrize("backbone", ["ResNet18", "ResNet50"])
@pytest.mark.parametrize("placement", ["all", "top-half", "bottom-half", "uniform-half"])
def test_number_and_macs_of_tams_match_a_hand_count(backbone, placement):
    kept = list(KEPT[backbone][placement])
    model = build_model(f"TAM-{backbone}-f{FRAMES}", 10, tam_placement=placement)
    assert sum(isinstance(m, TemporalAggregation) for m in model.modules()) == len(kept)
    tsn = profile_model(f"TSN-{backbone}-f{FRAMES}", 400, 224)
    tam = profile_model(f"TAM-{backbone}-f{FRAMES}", 400, 224, options={"tam_placement": placement})
    assert tam["macs_conv"] - tsn["macs_conv"] == _hand_macs(backbone, kept)
    channels = sum(BLOCK_INPUTS[backbone][i][0] for i in kept)
    assert tam["params"] - tsn["params"] == 3 * channels  # three weights per channel, no bias


def test_all_costs_what_the_official_table_gives_for_tam():
    """The 'all' variant is the grid's TAM-ResNet18: its extra MACs over TSN equal the official table's."""
    grid = pd.read_csv(resource_dir("reference") / "paper_mini_grid.csv")
    flops = grid[grid["dataset"] == "mini-kinetics"].set_index("model")["flops"]
    official = int(flops["TAM-ResNet18-f8"]) - int(flops["TSN-ResNet18-f8"])
    assert official == _hand_macs("ResNet18", range(8))


def test_halves_of_an_odd_count_and_bad_values():
    assert placement_indices("top-half", 9) == [4, 5, 6, 7, 8]
    assert placement_indices("bottom-half", 9) == [0, 1, 2, 3, 4]
    assert placement_indices("uniform-half", 9) == [0, 2, 4, 6, 8]
    with pytest.raises(ModelError, match="tam_placement must be one of all, top-half"):
        build_model("TAM-ResNet18-f8", 10, tam_placement="middle")


def test_a_top_half_model_trains_and_its_bottom_blocks_are_plain():
    torch.manual_seed(0)
    model = build_model("TAM-ResNet18-f4", 5, tam_placement="top-half")
    first_block = model.features.layer1[0]
    assert not any(isinstance(m, TemporalAggregation) for m in first_block.modules())
    assert any(isinstance(m, TemporalAggregation) for m in model.features.layer4[1].modules())
    out = model(torch.randn(2, 3, 4, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 5)
