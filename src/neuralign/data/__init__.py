"""Data: the TrialData container, file I/O, the dataset registry and preprocessing."""

from neuralign.data.trialdata import TrialData, check_trialdata

__all__ = ["TrialData", "check_trialdata"]
