"""The benchmark harness's statistics: the paired bootstrap behind every "Δ [95% CI]" figure."""

from __future__ import annotations

import numpy as np
import pytest

from bench.harness import paired_bootstrap


class TestPairedBootstrap:
    def test_a_clear_improvement_has_an_interval_above_zero(self) -> None:
        rng = np.random.default_rng(1)
        theirs = rng.uniform(0.3, 0.9, size=300)
        ours = theirs + 0.05 + rng.normal(0, 0.02, size=300)
        ci = paired_bootstrap(ours, theirs)
        assert ci["mean"] == pytest.approx(float(np.mean(ours - theirs)))
        assert 0 < ci["ci95_low"] < ci["mean"] < ci["ci95_high"] < 0.1
        assert ci["p_le_0"] == 0.0 and ci["queries"] == 300

    def test_noise_alone_gives_an_interval_around_zero(self) -> None:
        rng = np.random.default_rng(2)
        theirs = rng.uniform(0.3, 0.9, size=300)
        ours = theirs + rng.normal(0, 0.05, size=300)
        ci = paired_bootstrap(ours, theirs)
        assert ci["ci95_low"] < 0 < ci["ci95_high"]

    def test_pairing_matters(self) -> None:
        # the same per-query gain on very different queries: unpaired it would drown in the
        # spread between queries, paired it is exact
        theirs = np.linspace(0.0, 1.0, 50)
        ci = paired_bootstrap(theirs + 0.01, theirs)
        assert ci["ci95_low"] == pytest.approx(0.01) and ci["ci95_high"] == pytest.approx(0.01)

    def test_lists_of_different_length_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="equally long"):
            paired_bootstrap([0.1, 0.2], [0.1])
