"""The demo's synthetic Scotland: invented practices, clusters, populations and activity inside the real
14 boards and 31 HSCPs, written in the same file layouts as the real PHS open data."""

from gpcluster.synthetic.activity import MEASURES, PlantedSignal
from gpcluster.synthetic.history import Event
from gpcluster.synthetic.scotland import DEFAULT_SEED, build_scotland, planted_signals
from gpcluster.synthetic.writer import SYNTHETIC_MARKER, is_synthetic_dir, write_synthetic_scotland

__all__ = [
    "DEFAULT_SEED", "MEASURES", "SYNTHETIC_MARKER", "Event", "PlantedSignal", "build_scotland",
    "is_synthetic_dir", "planted_signals", "write_synthetic_scotland",
]
