"""stbench: a fair-comparison benchmarking suite for CNN video action recognition.

Every model is ``backbone x spatio-temporal module x temporal pooling x frames``
(Chen et al., CVPR 2021). The package follows the data's path:
``data`` -> ``models`` -> ``engine`` -> ``grid`` + ``launch`` -> ``analysis``, plus ``cli``.
"""

__version__ = "0.1.0"
