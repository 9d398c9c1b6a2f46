"""TSN: the image backbone per frame, no temporal modelling, logits averaged over frames."""

from benchmark.models.registry import register_module
from benchmark.models.video2d import build_video2d


@register_module("TSN", description="2D backbone per frame, no temporal modelling; frame logits averaged",
                 paper="Wang et al., Temporal Segment Networks, ECCV 2016")
def build_tsn(spec, num_classes, **options):
    return build_video2d(spec, num_classes, **options)
