"""Signals: the performance figures worth a cluster's time, with evidence that persists, ranked and put into
plain words (see gpcluster.signals.detect for the detectors and gpcluster.signals.build for the table)."""

from gpcluster.signals.build import quarter_words, rebuild_signals

__all__ = ["quarter_words", "rebuild_signals"]
