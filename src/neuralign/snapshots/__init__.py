"""Population dynamics from snapshots of latent clouds (takes arrays or TrialData latents, never models).

- ``Snapshots``: clouds (n_k, d) at sorted times, optional velocities and parameter mu.
- ``ActionMatching``: a gradient velocity field from marginals (deterministic or entropic).
- ``HOAM``: action matching over a range of parameter values mu (one potential s(z, u, mu)).
- ``WLM``: Wasserstein Lagrangian mechanics: damped second-order particles in a learned cloud energy (forecasts).
- ``GradientFlow``: WLM's overdamped limit, the first-order baseline (forecasts).
- ``OTCFM``: conditional flow matching with minibatch exact-OT couplings (torchcfm) between consecutive clouds.
- ``McCannInterpolation``: displacement interpolation along exact OT plans between neighbouring clouds.
- ``METHODS``: name -> estimator class, the names that ``neuralign bench snapshots`` and
  ``neuralign snapshots fit --method`` take.
"""

from neuralign.snapshots.container import Snapshots
from neuralign.snapshots.action_matching import ActionMatching, ActionMatchingConfig
from neuralign.snapshots.hoam import HOAM, HOAMConfig
from neuralign.snapshots.mccann import McCannConfig, McCannInterpolation
from neuralign.snapshots.otcfm import OTCFM, OTCFMConfig
from neuralign.snapshots.rollout import RolloutConfig
from neuralign.snapshots.wlm import WLM, GradientFlow, GradientFlowConfig, WLMConfig

METHODS = {"am": ActionMatching, "hoam": HOAM, "wlm": WLM, "gradient_flow": GradientFlow, "otcfm": OTCFM,
           "mccann": McCannInterpolation}

__all__ = ["METHODS", "ActionMatching", "ActionMatchingConfig", "GradientFlow", "GradientFlowConfig", "HOAM",
           "HOAMConfig", "McCannConfig", "McCannInterpolation", "OTCFM", "OTCFMConfig", "RolloutConfig", "Snapshots",
           "WLM", "WLMConfig"]
