"""Population dynamics from snapshots of latent clouds (takes arrays or TrialData latents, never models).

- ``Snapshots``: clouds (n_k, d) at sorted times, optional velocities and parameter mu.
- ``ActionMatching``: a gradient velocity field from marginals (deterministic or entropic).
- ``McCannInterpolation``: displacement interpolation along exact OT plans between neighbouring clouds.
- ``METHODS``: name -> estimator class, the names that ``neuralign bench snapshots`` and
  ``neuralign snapshots fit --method`` take.
"""

from neuralign.snapshots.container import Snapshots
from neuralign.snapshots.action_matching import ActionMatching, ActionMatchingConfig
from neuralign.snapshots.mccann import McCannConfig, McCannInterpolation

METHODS = {"am": ActionMatching, "mccann": McCannInterpolation}

__all__ = ["METHODS", "ActionMatching", "ActionMatchingConfig", "McCannConfig", "McCannInterpolation", "Snapshots"]
