"""What the per-session sequence models (SeqVAE, LFADS) share: sessions, read-ins and read-outs, the behaviour
head, adaptation to a new session, inference on TrialData and persistence.

A sequence model maps each session's counts (trials, time, units_s) through its own linear read-in into a shared
input space, infers latents (trials, time, latent_dim) with shared machinery, and maps them back through its own
read-out to Poisson log-rates; a shared linear head decodes standardised behaviour from the latents. A subclass
builds the network (``_build_network``), defines the training loss (``_loss``) and the deterministic latent path
from read-in outputs to latents (``latents_from_inputs``, used by inference and by the aligners).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from neuralign._checks import as_array, describe
from neuralign.data.quality import warn_about_counts
from neuralign.data.trialdata import TrialData, check_trialdata
from neuralign.models.base import Estimator
from neuralign.train import History, resolve_device, train


class SequenceModel(Estimator):
    """Base of the per-session sequence models (see the module docstring).

    A subclass's config has ``read_in_dim``, ``seed``, ``max_epochs``, ``device``, ``verbose`` and a
    ``train_config(**overrides)`` method; its network has ``read_in`` and ``read_out`` (``PerSessionLinear``),
    ``behavior_head`` (``nn.Linear``) and ``likelihood`` (``PoissonLikelihood``)."""

    def __init__(self, config: Any = None, **settings: Any) -> None:
        super().__init__(config, **settings)
        self.network_: nn.Module | None = None
        self.units_: list[int] = []
        self.behavior_mean_ = np.zeros(0, np.float32)
        self.behavior_std_ = np.ones(0, np.float32)
        self.history_: History | None = None

    # ------------------------------------------------------------------------------ what a model defines
    @property
    def latent_dim(self) -> int:
        """Dimensions of the latents that ``transform`` returns and the read-outs and head take."""
        raise NotImplementedError

    def _build_network(self, units: list[int], behavior_dims: int) -> nn.Module:
        raise NotImplementedError

    def _loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def latents_from_inputs(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic latents (posterior means) from read-in outputs: (trials, time, read_in_dim) ->
        (trials, time, latent_dim). Differentiable in ``inputs`` (the aligners train a read-in through it)."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------ fitting
    def fit(self, data: TrialData | Sequence[TrialData], *, checkpoint_path: str | None = None,
            resume: bool = False, checkpoint_every: int | None = None) -> "SequenceModel":
        """Fit on one session or a list of sessions (each with its own units; behaviour optional).

        ``checkpoint_path`` / ``resume``: write training checkpoints there and continue from one (the resumed fit
        ends with the same weights as an uninterrupted one); ``checkpoint_every``: epochs between checkpoints
        (default: the training loop's).
        """
        sessions = self._sessions("data", data)
        behavior_dims = {s.behavior.shape[2] for s in sessions if s.behavior is not None}
        if len(behavior_dims) > 1:
            raise ValueError(f"data: every session's behaviour must have the same dims, got {sorted(behavior_dims)}.")
        dims = behavior_dims.pop() if behavior_dims else 0
        # a refit starts from no behaviour statistics (a previous fit's must not leak into this one)
        self.behavior_mean_, self.behavior_std_ = np.zeros(0, np.float32), np.ones(0, np.float32)
        with_behavior = [s.behavior[s.mask] for s in sessions if s.behavior is not None]
        if with_behavior:
            stacked = np.concatenate(with_behavior)
            self.behavior_mean_ = stacked.mean(0).astype(np.float32)
            self.behavior_std_ = (stacked.std(0) + 1e-6).astype(np.float32)
        self.units_ = [s.n_units for s in sessions]
        torch.manual_seed(self.config.seed)
        self.network_ = self._build_network(self.units_, dims)
        for index, session in enumerate(sessions):
            self._init_read_out_bias(index, session)
        tensors = [self._tensors(s, i) for i, s in enumerate(sessions)]
        self.history_ = train(self.network_, self._loss, tensors,
                              self.config.train_config(checkpoint_path=checkpoint_path, resume=resume,
                                                       **({} if checkpoint_every is None
                                                          else {"checkpoint_every": checkpoint_every})))
        self.network_.eval()
        self.fitted_ = True
        return self

    def adapt(self, data: TrialData, *, max_epochs: int | None = None) -> int:
        """Add ``data`` as a new session: fit its own read-in and read-out with everything else frozen.

        Returns the new session's index, to pass as ``session=`` to ``transform`` and the other methods.
        """
        self._check_fitted("adapt")
        data = check_trialdata("data", data)
        self._check_counts_signal("data", data)
        warn_about_counts("data", data, model=type(self).__name__)
        network = self.network_
        torch.manual_seed(self.config.seed)  # the new layers' initialisation, as in fit
        index = network.read_in.add_session(data.n_units, self.config.read_in_dim)
        network.read_out.add_session(self.latent_dim, data.n_units)
        self.units_.append(data.n_units)
        self._init_read_out_bias(index, data)
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        new = list(network.read_in.layers[index].parameters()) + list(network.read_out.layers[index].parameters())
        for parameter in new:
            parameter.requires_grad_(True)
        sessions: list[dict | None] = [None] * index + [self._tensors(data, index, use_behavior=False)]
        config = self.config.train_config(max_epochs=max_epochs or self.config.max_epochs, min_epochs=0)
        try:
            train(network, self._loss, sessions, config, parameters=new)
        finally:
            for parameter in network.parameters():
                parameter.requires_grad_(True)
            network.eval()
        return index

    # --------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def transform(self, data: TrialData, *, session: int | None = None) -> np.ndarray:
        """Latents (posterior means), (trials, time, latent_dim); padding bins of ragged trials are zero."""
        return self._latents(data, session).cpu().numpy()

    @torch.no_grad()
    def predict_behavior(self, data: TrialData, *, session: int | None = None) -> np.ndarray:
        """Behaviour decoded by the shared head from the latents, (trials, time, dims), original units."""
        self._check_fitted("predict_behavior")
        self._check_behavior_head()
        standardised = self.network_.behavior_head(self._latents(data, session)).cpu().numpy()
        return standardised * self.behavior_std_ + self.behavior_mean_

    def decode_behavior(self, latents: np.ndarray) -> np.ndarray:
        """The behaviour head applied to given latents (trials, time, latent_dim) -> (trials, time, dims)."""
        self._check_fitted("decode_behavior")
        self._check_behavior_head()
        latents = as_array("latents", latents, ndim=3)
        if latents.shape[2] != self.latent_dim:
            raise ValueError(f"latents: expected {self.latent_dim} latent dims, got {latents.shape[2]}.")
        head = self.network_.behavior_head
        with torch.no_grad():
            out = head(torch.as_tensor(latents, device=head.weight.device)).cpu().numpy()
        return out * self.behavior_std_ + self.behavior_mean_

    @torch.no_grad()
    def predict_rates(self, data: TrialData, *, session: int | None = None) -> np.ndarray:
        """Expected counts per bin, (trials, time, units), from the latents."""
        session = self._resolve_session(data, session)
        latents = self._latents(data, session)
        return self.network_.likelihood.mean(self.network_.read_out(latents, session)).cpu().numpy()

    def _latents(self, data: TrialData, session: int | None) -> torch.Tensor:
        session = self._resolve_session(data, session)
        self.network_.eval()
        tensors = self._tensors(data, session, use_behavior=False)
        inputs = self.network_.read_in(tensors["counts"], session)
        latents = self.latents_from_inputs(inputs, tensors.get("lengths"))
        return latents * tensors["mask"].unsqueeze(-1)

    # ------------------------------------------------------------------------------------------ helpers
    def _sessions(self, name: str, data: TrialData | Sequence[TrialData]) -> list[TrialData]:
        sessions = [data] if isinstance(data, TrialData) else data
        if not isinstance(sessions, (list, tuple)) or not sessions:
            raise TypeError(f"{name}: expected a TrialData or a non-empty list of TrialData, got {describe(data)}.")
        for index, session in enumerate(sessions):
            check_trialdata(f"{name}[{index}]", session)
            self._check_counts_signal(f"{name}[{index}]", session)
        for index, session in enumerate(sessions):  # warnings only once every session is valid
            warn_about_counts(f"{name}[{index}]", session, model=type(self).__name__, latent_dim=self.latent_dim)
        return list(sessions)

    def _check_counts_signal(self, name: str, data: TrialData) -> None:
        if data.signal != "counts":
            raise ValueError(f"{name}: {type(self).__name__} has a Poisson decoder and needs spike counts, got "
                             f"signal={data.signal!r}; use a Gaussian model for continuous signals.")

    def _resolve_session(self, data: TrialData, session: int | None) -> int:
        self._check_fitted("using the model")
        check_trialdata("data", data)
        if session is None:
            if data.n_units != self.units_[0]:
                raise ValueError(f"data: has {data.n_units} units but session 0's read-in expects "
                                 f"{self.units_[0]}; pass session= (units per session: {self.units_}) "
                                 "or call adapt(data) / an aligner for a new session.")
            return 0
        if (isinstance(session, bool) or not isinstance(session, (int, np.integer))
                or not 0 <= session < len(self.units_)):
            raise ValueError(f"session: expected an index in [0, {len(self.units_)}), got {session!r}.")
        if data.n_units != self.units_[session]:
            raise ValueError(f"data: has {data.n_units} units but session {session}'s read-in expects "
                             f"{self.units_[session]}.")
        return int(session)

    def _device(self) -> torch.device | None:
        return self.network_.behavior_head.weight.device if self.network_ is not None else None

    def _tensors(self, data: TrialData, session: int, use_behavior: bool = True) -> dict[str, torch.Tensor]:
        device = self._device()
        tensors = data.to_tensors(device=device)
        tensors.pop("labels", None)
        tensors.pop("latents", None)
        if data.lengths is not None:
            tensors["lengths"] = torch.as_tensor(data.lengths, device=device)
        behavior = tensors.pop("behavior", None)
        if use_behavior and behavior is not None:
            tensors["behavior"] = (behavior - torch.as_tensor(self.behavior_mean_, device=device)) / \
                torch.as_tensor(self.behavior_std_, device=device)
        return tensors

    def _init_read_out_bias(self, session: int, data: TrialData) -> None:
        mean_rate = data.counts[data.mask].mean(0)
        with torch.no_grad():
            layer = self.network_.read_out.layers[session]
            layer.bias.copy_(torch.as_tensor(np.log(mean_rate + 1e-3)))
            layer.weight.mul_(0.1)

    def _check_behavior_head(self) -> None:
        if not self.behavior_mean_.size:
            raise ValueError(f"This {type(self).__name__} was fitted without behaviour, so it has no behaviour "
                             "head; fit it on TrialData with behavior= to decode behaviour.")

    # ---------------------------------------------------------------------------------- persistence
    def _get_state(self) -> dict[str, Any]:
        return {"network": self.network_.state_dict(), "units": list(self.units_),
                "behavior_mean": torch.as_tensor(self.behavior_mean_),
                "behavior_std": torch.as_tensor(self.behavior_std_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.units_ = [int(u) for u in state["units"]]
        self.behavior_mean_ = state["behavior_mean"].numpy()
        self.behavior_std_ = state["behavior_std"].numpy()
        self.network_ = self._build_network(self.units_, int(self.behavior_mean_.size))
        self.network_.load_state_dict(state["network"])
        self.network_.to(resolve_device(self.config.device)).eval()
