"""NDT2: a spatiotemporal transformer pretrained by masked reconstruction of spike counts across sessions and
subjects, then adapted to a new session (Ye et al., NeurIPS 2023; ../METHODS_2.md section 1).

For a session s of subject j with counts x: (time, units), units padded with zeros to n * P and cut into n patches
of P = ``patch_size`` units:

    e_{t,p}   = E_s(log(1 + x_{t,p})) + tau_t + pi_p          (patch embedding; time and patch-position embeddings)
    c         = [sigma_s, rho_j]                              (context tokens: session, subject)
    V, M      = a random split of the tokens, |M| = r |V u M|  (r = ``mask_ratio``)
    h         = Encoder([c, e_V])                              (the encoder sees only the visible tokens)
    q_{t,p}   = W h_{t,p} if (t, p) in V else m,  + tau_t + pi_p      (m: the learned mask token)
    l_{t,p}   = R_s(Decoder([W c_out, q])_{t,p})               (P log-rates per token)
    loss      = mean over (t, p) in M and real units u of  exp(l) - x l     (padding units never scored)

E_s and R_s are shared by every session (``patch_embedding="shared"``, as in NDT2) or one per session and patch
position (``"per_session"``, a stitching read-in). The latent features (``transform``) are the unmasked
encoder's outputs averaged over patches: (trials, time, d_model). Optional supervised head (``head_weight`` > 0):
velocity from the features per bin (MSE on standardised behaviour) or class logits from their time average.

Adaptation to a new session: ``adapt`` (new context tokens, and a new read-in / read-out when per session, tuned
by the masked loss on unlabelled spikes, backbone frozen or not); ``fit_decoder`` (a linear velocity or class
head fitted on N labelled trials, with or without fine-tuning the backbone). The from-scratch baseline is
``NDT2(...).fit(target).fit_decoder(target, n_labelled=N)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from neuralign._checks import describe, fraction, one_of, positive_float, positive_int
from neuralign.data.quality import warn_about_counts
from neuralign.data.trialdata import TrialData, check_trialdata
from neuralign.models.base import Estimator, register_model
from neuralign.models.ndt2_network import NDT2Network, StandardisedLinear, masked_poisson_nll, patch_count, patchify
from neuralign.train import History, TrainConfig, resolve_device, train

PATCH_EMBEDDINGS = ("shared", "per_session")
ADAPT_MODES = ("unsupervised", "supervised")
UNKNOWN_SUBJECT = "unknown"


@dataclass
class NDT2Config:
    """Settings of :class:`NDT2`. The defaults are scaled for a CPU (width 64, 2 + 1 layers); the paper's size
    is ``d_model=256, encoder_layers=6, decoder_layers=2, patch_size=32, learning_rate=5e-4``, on a GPU.

    patch_size : units per token (P). patch_embedding : "shared" or "per_session" (module docstring).
    d_model, n_heads, encoder_layers, decoder_layers, ff_multiplier, dropout : transformer sizes (feed-forward
        width = ff_multiplier * d_model; d_model must be divisible by n_heads).
    mask_ratio : fraction of tokens masked in pretraining, in (0, 1).
    max_time_bins, max_patches : sizes of the learned time and patch-position tables: the longest trial and the
        most units (max_patches * patch_size) a session may have.
    head_weight : weight of the supervised head in pretraining (velocity when every session has behaviour, else
        class labels when every session has labels); 0 for pure self-supervised pretraining.
    max_epochs, batch_size, learning_rate, weight_decay, lr_schedule, patience, val_fraction : pretraining.
    tuning_epochs, tuning_learning_rate : ``adapt`` and ``fit_decoder``.
    """

    patch_size: int = 32
    patch_embedding: str = "shared"
    d_model: int = 64
    n_heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 1
    ff_multiplier: int = 2
    dropout: float = 0.1
    mask_ratio: float = 0.5
    max_time_bins: int = 256
    max_patches: int = 64
    head_weight: float = 0.0
    max_epochs: int = 200
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    lr_schedule: str = "cosine"
    patience: int = 20
    val_fraction: float = 0.1
    tuning_epochs: int = 100
    tuning_learning_rate: float = 3e-3
    seed: int = 0
    device: str | None = None
    verbose: bool = True

    def __post_init__(self) -> None:
        for name in ("patch_size", "d_model", "n_heads", "encoder_layers", "decoder_layers", "ff_multiplier",
                     "max_time_bins", "max_patches", "max_epochs", "batch_size", "patience", "tuning_epochs"):
            positive_int(name, getattr(self, name))
        positive_int("seed", self.seed, minimum=0)
        one_of("patch_embedding", self.patch_embedding, PATCH_EMBEDDINGS)
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads: expected a divisor of d_model={self.d_model}, got {self.n_heads}.")
        fraction("mask_ratio", self.mask_ratio)
        fraction("dropout", self.dropout, open_interval=False)
        positive_float("head_weight", self.head_weight, allow_zero=True)
        for name in ("learning_rate", "tuning_learning_rate"):
            positive_float(name, getattr(self, name))
        self.train_config()  # checks the loop's settings (weight_decay, lr_schedule, val_fraction, device)

    def train_config(self, **overrides: Any) -> TrainConfig:
        settings = dict(max_epochs=self.max_epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                        weight_decay=self.weight_decay, lr_schedule=self.lr_schedule, patience=self.patience,
                        val_fraction=self.val_fraction, seed=self.seed, device=self.device, verbose=self.verbose)
        settings.update(overrides)
        return TrainConfig(**settings)


@register_model
class NDT2(Estimator):
    """Multi-context masked transformer (module docstring); parameters are those of :class:`NDT2Config`.

    Contexts: a session's context is ``str(meta["session"])``; a TrialData without it gets ``"index i"``, its
    position i in the list given to ``fit`` (or, for ``adapt`` / ``fit_decoder``, the next free index). A
    session's subject is ``str(meta["subject"])``, or ``"unknown"`` (one subject shared by every session
    without it). Sessions with the same context share its token and must have the same unit count.

    Examples
    --------
    >>> import neuralign
    >>> sessions = neuralign.datasets.load("synthetic_reach_sessions", n_sessions=2, n_units=[12, 10],
    ...                                    n_trials=16, n_time=6)
    >>> model = NDT2(patch_size=4, d_model=16, max_epochs=2, verbose=False).fit(sessions)
    >>> model.transform(sessions[1]).shape
    (16, 6, 16)
    """

    config_class = NDT2Config

    def __init__(self, config: Any = None, **settings: Any) -> None:
        super().__init__(config, **settings)
        self.network_: NDT2Network | None = None
        self.sessions_: list[str] = []
        self.subjects_: list[str] = []
        self.units_: list[int] = []
        self.bin_size_ = 0.0
        self.head_kind_ = ""  # "", "velocity" or "classes"
        self.behavior_mean_ = np.zeros(0, np.float32)
        self.behavior_std_ = np.ones(0, np.float32)
        self.labelled_trials_ = np.zeros(0, np.int64)
        self.decoder_context_ = -1  # the context fit_decoder last fitted a decoder on
        self.history_: History | None = None

    # ------------------------------------------------------------------------------------------ fitting
    def fit(self, data: TrialData | Sequence[TrialData], *, checkpoint_path: str | None = None,
            resume: bool = False, checkpoint_every: int | None = None) -> "NDT2":
        """Pretrain on one session or a list of sessions (unit counts may differ; the bin size may not).

        ``checkpoint_path`` / ``resume`` / ``checkpoint_every``: as in the training loop."""
        sessions = self._check_sessions(data)
        self.sessions_, self.subjects_, self.units_, subjects, index = [], [], [], [], []
        for position, session in enumerate(sessions):
            key = self._session_key(session, position)
            if key in self.sessions_:
                context = self.sessions_.index(key)
                if self.units_[context] != session.n_units:
                    raise ValueError(f"data[{position}]: has {session.n_units} units but an earlier session with "
                                     f"the same meta['session'] ({key!r}) has {self.units_[context]}; give "
                                     "different sessions different meta['session'].")
            else:
                self.sessions_.append(key)
                self.units_.append(session.n_units)
                subjects.append(self._subject_index(session, add=True))
            index.append(self.sessions_.index(key))
        self.bin_size_ = float(sessions[0].bin_size)
        self.head_kind_, outputs = self._head_kind(sessions) if self.config.head_weight > 0 else ("", 0)
        self._set_behavior_statistics(sessions if self.head_kind_ == "velocity" else [])
        torch.manual_seed(self.config.seed)
        self.network_ = NDT2Network(self.config, self.units_, subjects, len(self.subjects_), outputs)
        tensors: list[dict | None] = [None] * len(self.sessions_)
        for context, session in zip(index, sessions):
            tensors[context] = _concatenate(tensors[context], self._tensors(session, with_targets=True))
        overrides = {} if checkpoint_every is None else {"checkpoint_every": checkpoint_every}
        self.history_ = train(self.network_, self._pretraining_loss, tensors,
                              self.config.train_config(checkpoint_path=checkpoint_path, resume=resume, **overrides))
        self.network_.eval()
        self.fitted_ = True
        return self

    def adapt(self, target: TrialData, *, mode: str = "unsupervised", freeze_backbone: bool = True,
              n_labelled: int | None = None, max_epochs: int | None = None) -> int:
        """Add ``target`` as a new session context and tune it; returns its context index.

        mode : "unsupervised": a new session token (and subject token for a new subject; and a new read-in and
            read-out with ``patch_embedding="per_session"``) tuned by the masked loss on the target's spikes
            (labels and behaviour unused); with ``freeze_backbone=False`` every parameter is tuned.
            "supervised": ``fit_decoder(target, n_labelled=n_labelled, finetune=not freeze_backbone)``.
        """
        self._check_fitted("adapt")
        one_of("mode", mode, ADAPT_MODES)
        if not isinstance(freeze_backbone, bool):
            raise TypeError(f"freeze_backbone: expected True or False, got {describe(freeze_backbone)}.")
        if mode == "supervised":
            self.fit_decoder(target, n_labelled=n_labelled, finetune=not freeze_backbone, max_epochs=max_epochs)
            return self.decoder_context_
        target = self._check_new_data("target", target)
        key = self._session_key(target, len(self.sessions_))
        if key in self.sessions_:
            raise ValueError(f"target: its session {key!r} is already a context of this model; adapt is for a new "
                             "session (give it another meta['session']), and fit_decoder tunes a known one.")
        context, new = self._add_context(target, key)
        tensors = [None] * context + [self._tensors(target, with_targets=False)]
        self._tune(self._pretraining_loss, tensors, None if not freeze_backbone else new, max_epochs)
        return context

    def fit_decoder(self, target: TrialData, *, n_labelled: int | None = None, finetune: bool = False,
                    variable: str | None = None, session: int | str | None = None,
                    max_epochs: int | None = None) -> "NDT2":
        """Fit a new linear decoder on ``n_labelled`` labelled trials of ``target`` (all when None); its inputs,
        the features, are z-scored with the labelled trials' statistics.

        The trials are a seeded random choice (``seed``), kept in ``labelled_trials_``. variable : "behavior"
        (velocity per bin, MSE on standardised behaviour) or "labels" (class logits from the time-averaged
        features; classes 0 .. max(target.labels), the one thing read from the unlabelled trials); default: behaviour
        when the target has it, else labels. finetune : also tune the backbone
        (else only the decoder, and the target's context when it is new to the model). The target's context:
        ``session`` (an index or name) when given; else its meta['session'] when the model knows it; else, for a
        target without meta['session'], the model's only context when it has one (the from-scratch baseline
        ``NDT2().fit(target).fit_decoder(target)``); otherwise the target is added as a new context (as ``adapt``
        does, its new parameters tuned with the decoder). ``predict`` then gives the decoded variable."""
        self._check_fitted("fit_decoder")
        target = check_trialdata("target", target)
        variable = self._decoded_variable(target, variable)
        if not isinstance(finetune, bool):
            raise TypeError(f"finetune: expected True or False, got {describe(finetune)}.")
        n_trials = target.n_trials if n_labelled is None else positive_int("n_labelled", n_labelled)
        if n_trials > target.n_trials:
            raise ValueError(f"n_labelled: expected at most the target's {target.n_trials} trials, got {n_trials}.")
        new: list[nn.Parameter] = []
        context = self._known_context("target", target, session)
        if context is None:
            target = self._check_new_data("target", target)
            context, new = self._add_context(target, self._session_key(target, len(self.sessions_)))
        chosen = np.sort(np.random.default_rng(self.config.seed).permutation(target.n_trials)[:n_trials])
        labelled = target.subset(chosen)
        if variable == "behavior":
            self.head_kind_, outputs = "velocity", labelled.behavior.shape[2]
            self._set_behavior_statistics([labelled])
        else:
            self.head_kind_, outputs = "classes", int(target.labels.max()) + 1  # the class count of all trials
            self._set_behavior_statistics([])
        network = self.network_
        torch.manual_seed(self.config.seed)
        network.head = StandardisedLinear(network.mask_token.shape[0], outputs).to(network.mask_token.device)
        with torch.no_grad():  # z-score the decoder's inputs with the labelled trials' features
            network.eval()
            tensors = self._tensors(labelled, with_targets=False)
            features = network.features(tensors["counts"], tensors["mask"], context)
            pooled = _pooled(features, tensors["mask"]) if self.head_kind_ == "classes" else features[tensors["mask"]]
            network.head.standardise_on(pooled)
        self.labelled_trials_, self.decoder_context_ = chosen, context
        tensors = [None] * context + [self._tensors(labelled, with_targets=True)]
        tuned = None if finetune else new + list(network.head.parameters())
        self._tune(self._decoder_loss, tensors, tuned, max_epochs)
        return self

    # --------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def transform(self, data: TrialData, *, session: int | str | None = None) -> np.ndarray:
        """Latent features, (trials, time, d_model): unmasked encoder outputs averaged over patches (zero on the
        padding bins of ragged trials). ``session``: a context index or name (default: from meta['session'])."""
        return self._features(data, session).cpu().numpy()

    @torch.no_grad()
    def predict(self, data: TrialData, *, session: int | str | None = None) -> np.ndarray:
        """The decoded variable: velocity (trials, time, dims) in original units, or class labels (trials,)."""
        self._check_fitted("predict")
        if not self.head_kind_:
            raise ValueError("This NDT2 has no decoder: call fit_decoder(target, n_labelled=...) first, or pretrain "
                             "with head_weight > 0.")
        out = self._head_outputs(self._features(data, session), self._mask(data))
        if self.head_kind_ == "classes":
            return out.argmax(-1).cpu().numpy()
        return out.cpu().numpy() * self.behavior_std_ + self.behavior_mean_

    def predict_behavior(self, data: TrialData, *, session: int | str | None = None) -> np.ndarray:
        """Velocity decoded by the head, (trials, time, dims), original units (a velocity head is needed)."""
        self._check_fitted("predict_behavior")
        if self.head_kind_ != "velocity":
            raise ValueError("This NDT2 has no behaviour decoder; fit one with fit_decoder(target, "
                             "variable='behavior') (for class labels use predict).")
        return self.predict(data, session=session)

    @torch.no_grad()
    def masked_loss(self, data: TrialData, *, session: int | str | None = None, seed: int = 0) -> float:
        """Masked-token Poisson negative log-likelihood per scored count (nats, with log x!; lower is better),
        for a mask drawn with ``seed`` (the same mask for the same data and seed)."""
        out = self._masked_reconstruction(data, session, seed)
        return float(masked_poisson_nll(out["log_rates"], out["counts"], out["masked"], out["units"],
                                        constant=True))

    @torch.no_grad()
    def masked_bits_per_spike(self, data: TrialData, *, session: int | str | None = None, seed: int = 0) -> float:
        """Masked-token bits per spike (the unsupervised score): the Poisson log-likelihood of the masked entries'
        reconstructed rates minus that of each unit's mean count per bin over ``data``'s valid bins (the NLB null),
        divided by the masked entries' spikes times ln 2; > 0 when the reconstruction beats the mean rates. The
        mask is drawn with ``seed``, as in ``masked_loss``."""
        out = self._masked_reconstruction(data, session, seed)
        counts = torch.as_tensor(data.counts, device=out["counts"].device)
        valid = torch.as_tensor(data.mask, device=counts.device).unsqueeze(-1)
        means = (counts * valid).sum((0, 1)) / valid.sum().clamp(min=1)
        null = patchify(torch.log(means.clamp(min=1e-9)).expand_as(counts).contiguous(), self.config.patch_size)
        weight = (out["masked"].unsqueeze(-1) & out["units"]).to(counts.dtype)
        spikes = float((out["counts"] * weight).sum())
        if spikes <= 0:
            raise ValueError("data: masked bits per spike needs at least one spike among the masked entries; got "
                             "none (use more trials or another seed).")
        scored = float(weight.sum())
        gain = (masked_poisson_nll(null, out["counts"], out["masked"], out["units"])
                - masked_poisson_nll(out["log_rates"], out["counts"], out["masked"], out["units"]))
        return float(gain) * scored / (spikes * math.log(2.0))

    def _masked_reconstruction(self, data: TrialData, session: int | str | None, seed: int) -> dict[str, Any]:
        context = self._context("data", data, session)
        positive_int("seed", seed, minimum=0)
        tensors = self._tensors(data, with_targets=False)
        self.network_.eval()
        return self.network_.masked_reconstruction(tensors["counts"], tensors["mask"], context,
                                                   self.config.mask_ratio, torch.Generator().manual_seed(seed))

    def score(self, data: TrialData, *, session: int | str | None = None) -> float:
        """Minus ``masked_loss`` (seed 0): masked-token Poisson log-likelihood per count; higher is better."""
        return -self.masked_loss(data, session=session)

    # --------------------------------------------------------------------------------------- losses
    def _pretraining_loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        network, session = self.network_, batch["session"]
        out = network.masked_reconstruction(batch["counts"], batch["mask"], session, self.config.mask_ratio)
        reconstruction = masked_poisson_nll(out["log_rates"], out["counts"], out["masked"], out["units"])
        logs = {"reconstruction": reconstruction, "loss": reconstruction}
        if self.head_kind_ and "target" in batch and self.config.head_weight > 0:
            head = self._head_loss(network.features(batch["counts"], batch["mask"], session), batch)
            logs.update(head=head, loss=reconstruction + self.config.head_weight * head)
        return logs

    def _decoder_loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        features = self.network_.features(batch["counts"], batch["mask"], batch["session"])
        loss = self._head_loss(features, batch)
        return {"loss": loss, "head": loss}

    def _head_loss(self, features: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        out = self._head_outputs(features, batch["mask"])
        if self.head_kind_ == "classes":
            return nn.functional.cross_entropy(out, batch["target"])
        weight = batch["mask"].unsqueeze(-1).to(out.dtype)
        return (((out - batch["target"]) ** 2) * weight).sum() / (weight.sum() * out.shape[-1]).clamp(min=1.0)

    def _head_outputs(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.network_.head(_pooled(features, mask) if self.head_kind_ == "classes" else features)

    # ------------------------------------------------------------------------------------------ helpers
    def _tune(self, loss, tensors: list[dict | None], parameters: list[nn.Parameter] | None,
              max_epochs: int | None) -> None:
        """Train ``parameters`` (None: all) on ``tensors`` with the tuning settings; the others stay frozen."""
        network = self.network_
        epochs = self.config.tuning_epochs if max_epochs is None else positive_int("max_epochs", max_epochs)
        config = self.config.train_config(max_epochs=epochs, learning_rate=self.config.tuning_learning_rate)
        if parameters is not None:
            for parameter in network.parameters():
                parameter.requires_grad_(False)
            for parameter in parameters:
                parameter.requires_grad_(True)
        try:
            self.history_ = train(network, loss, tensors, config, parameters=parameters)
        finally:
            for parameter in network.parameters():
                parameter.requires_grad_(True)
            network.eval()

    def _add_context(self, target: TrialData, key: str) -> tuple[int, list[nn.Parameter]]:
        """Register ``target`` as a new session context (and its subject if new); returns (index, new params)."""
        torch.manual_seed(self.config.seed)
        new = []
        subject = str(target.meta.get("subject", UNKNOWN_SUBJECT))
        if subject not in self.subjects_:
            self.subjects_.append(subject)
            new.append(self.network_.add_subject())
        new += self.network_.add_session(target.n_units, self.subjects_.index(subject))
        self.sessions_.append(key)
        self.units_.append(target.n_units)
        return len(self.sessions_) - 1, new

    def _check_sessions(self, data: TrialData | Sequence[TrialData]) -> list[TrialData]:
        sessions = [data] if isinstance(data, TrialData) else data
        if not isinstance(sessions, (list, tuple)) or not sessions:
            raise TypeError(f"data: expected a TrialData or a non-empty list of TrialData, got {describe(data)}.")
        for index, session in enumerate(sessions):
            self._check_data(f"data[{index}]", session)
        bins = [float(s.bin_size) for s in sessions]
        if not np.allclose(bins, bins[0], rtol=1e-6, atol=0):
            raise ValueError(f"data: every session must have the same bin_size, got {sorted(set(bins))} s; rebin "
                             "them to a common bin size first (TrialData.rebin).")
        for index, session in enumerate(sessions):
            warn_about_counts(f"data[{index}]", session, model="NDT2")
        return list(sessions)

    def _check_data(self, name: str, data: TrialData) -> TrialData:
        check_trialdata(name, data)
        if data.signal != "counts":
            raise ValueError(f"{name}: NDT2 has a Poisson decoder and needs spike counts, got signal="
                             f"{data.signal!r}.")
        config = self.config
        if data.n_time > config.max_time_bins:
            raise ValueError(f"{name}: trials of {data.n_time} bins are longer than max_time_bins="
                             f"{config.max_time_bins}; raise max_time_bins (a new model) or cut the trials.")
        if patch_count(data.n_units, config.patch_size) > config.max_patches:
            raise ValueError(f"{name}: {data.n_units} units need {patch_count(data.n_units, config.patch_size)} "
                             f"patches of {config.patch_size}, more than max_patches={config.max_patches} (at most "
                             f"{config.max_patches * config.patch_size} units); raise max_patches or patch_size.")
        return data

    def _check_new_data(self, name: str, data: TrialData) -> TrialData:
        self._check_data(name, data)
        if not np.isclose(data.bin_size, self.bin_size_, rtol=1e-6, atol=0):
            raise ValueError(f"{name}: bin_size {data.bin_size:g} s differs from the {self.bin_size_:g} s the model "
                             "was pretrained on; rebin it first (TrialData.rebin).")
        warn_about_counts(name, data, model="NDT2")
        return data

    @staticmethod
    def _session_key(data: TrialData, position: int) -> str:
        return str(data.meta["session"]) if "session" in data.meta else f"index {position}"

    def _subject_index(self, data: TrialData, add: bool) -> int:
        subject = str(data.meta.get("subject", UNKNOWN_SUBJECT))
        if subject not in self.subjects_ and add:
            self.subjects_.append(subject)
        return self.subjects_.index(subject)

    def _context(self, name: str, data: TrialData, session: int | str | None) -> int:
        """The context index of ``data``: ``session`` (index or name), else its meta['session'], else the only
        context; checks the unit count and the bin size."""
        self._check_fitted("using the model")
        check_trialdata(name, data)
        if session is None:
            if "session" in data.meta and str(data.meta["session"]) in self.sessions_:
                session = str(data.meta["session"])
            elif len(self.sessions_) == 1:
                session = 0
            else:
                known = f"{data.meta['session']!r} is not one of them" if "session" in data.meta else \
                    "it has no meta['session']"
                raise ValueError(f"{name}: cannot tell its session context ({known}; contexts: {self.sessions_}); "
                                 "pass session= (an index or name), or call adapt(data) for a new session.")
        if isinstance(session, str):
            if session not in self.sessions_:
                raise ValueError(f"session: expected one of {self.sessions_}, got {session!r}.")
            session = self.sessions_.index(session)
        if isinstance(session, bool) or not isinstance(session, (int, np.integer)) or \
                not 0 <= session < len(self.sessions_):
            raise ValueError(f"session: expected an index in [0, {len(self.sessions_)}) or a context name, got "
                             f"{session!r}.")
        if data.n_units != self.units_[session]:
            raise ValueError(f"{name}: has {data.n_units} units but context {self.sessions_[session]!r} has "
                             f"{self.units_[session]}; pass the right session=, or adapt(data) for a new session.")
        if not np.isclose(data.bin_size, self.bin_size_, rtol=1e-6, atol=0):
            raise ValueError(f"{name}: bin_size {data.bin_size:g} s differs from the model's {self.bin_size_:g} s.")
        return int(session)

    def _known_context(self, name: str, data: TrialData, session: int | str | None) -> int | None:
        """The context of ``data`` as ``fit_decoder`` documents it, or None for a new session."""
        if session is not None:
            return self._context(name, data, session)
        if "session" in data.meta:
            return self._context(name, data, None) if str(data.meta["session"]) in self.sessions_ else None
        return self._context(name, data, None) if len(self.sessions_) == 1 else None

    def _head_kind(self, sessions: list[TrialData]) -> tuple[str, int]:
        if all(s.behavior is not None for s in sessions):
            dims = {s.behavior.shape[2] for s in sessions}
            if len(dims) > 1:
                raise ValueError(f"data: every session's behaviour must have the same dims, got {sorted(dims)}.")
            return "velocity", dims.pop()
        if all(s.labels is not None for s in sessions):
            return "classes", int(max(s.labels.max() for s in sessions)) + 1
        raise ValueError(f"head_weight: {self.config.head_weight} > 0 needs behaviour (or labels) in every session; "
                         "set head_weight=0 for self-supervised pretraining.")

    @staticmethod
    def _decoded_variable(target: TrialData, variable: str | None) -> str:
        if variable is None:
            if target.behavior is None and target.labels is None:
                raise ValueError("target: fit_decoder needs behaviour or labels, and it has neither.")
            return "behavior" if target.behavior is not None else "labels"
        one_of("variable", variable, ("behavior", "labels"))
        if getattr(target, variable) is None:
            raise ValueError(f"variable: {variable!r} was asked for but target has no {variable}.")
        return variable

    def _set_behavior_statistics(self, sessions: list[TrialData]) -> None:
        self.behavior_mean_, self.behavior_std_ = np.zeros(0, np.float32), np.ones(0, np.float32)
        if sessions:
            stacked = np.concatenate([s.behavior[s.mask] for s in sessions])
            self.behavior_mean_ = stacked.mean(0).astype(np.float32)
            self.behavior_std_ = (stacked.std(0) + 1e-6).astype(np.float32)

    def _device(self) -> torch.device | None:
        return self.network_.mask_token.device if self.network_ is not None else None

    def _mask(self, data: TrialData) -> torch.Tensor:
        return torch.as_tensor(data.mask, device=self._device())

    def _tensors(self, data: TrialData, with_targets: bool) -> dict[str, torch.Tensor]:
        tensors = data.to_tensors(device=self._device())
        out = {"counts": tensors["counts"], "mask": tensors["mask"]}
        if with_targets and self.head_kind_ == "velocity" and "behavior" in tensors:
            device = tensors["counts"].device
            out["target"] = (tensors["behavior"] - torch.as_tensor(self.behavior_mean_, device=device)) / \
                torch.as_tensor(self.behavior_std_, device=device)
        elif with_targets and self.head_kind_ == "classes" and "labels" in tensors:
            out["target"] = tensors["labels"]
        return out

    def _features(self, data: TrialData, session: int | str | None) -> torch.Tensor:
        context = self._context("data", data, session)
        self.network_.eval()
        tensors = self._tensors(data, with_targets=False)
        return self.network_.features(tensors["counts"], tensors["mask"], context)

    # ---------------------------------------------------------------------------------- persistence
    def _get_state(self) -> dict[str, Any]:
        network = self.network_
        return {"network": network.state_dict(), "sessions": list(self.sessions_),
                "subjects": list(self.subjects_), "session_subjects": list(network.session_subjects),
                "units": list(self.units_), "bin_size": self.bin_size_, "head_kind": self.head_kind_,
                "head_outputs": 0 if network.head is None else network.head.out_features,
                "behavior_mean": torch.as_tensor(self.behavior_mean_),
                "behavior_std": torch.as_tensor(self.behavior_std_),
                "labelled_trials": torch.as_tensor(self.labelled_trials_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.sessions_, self.subjects_ = list(state["sessions"]), list(state["subjects"])
        self.units_ = [int(u) for u in state["units"]]
        self.bin_size_, self.head_kind_ = float(state["bin_size"]), str(state["head_kind"])
        self.behavior_mean_ = state["behavior_mean"].numpy()
        self.behavior_std_ = state["behavior_std"].numpy()
        self.labelled_trials_ = state["labelled_trials"].numpy()
        self.network_ = NDT2Network(self.config, self.units_, [int(s) for s in state["session_subjects"]],
                                    len(self.subjects_), int(state["head_outputs"]))
        self.network_.load_state_dict(state["network"])
        self.network_.to(resolve_device(self.config.device)).eval()


def _concatenate(first: dict[str, torch.Tensor] | None, second: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Trials of two sessions sharing one context: concatenated along trials (same keys and shapes needed)."""
    if first is None:
        return second
    if set(first) != set(second) or first["counts"].shape[1:] != second["counts"].shape[1:]:
        raise ValueError("data: sessions with the same meta['session'] must have the same time bins, units and "
                         "targets; give different sessions different meta['session'].")
    return {key: torch.cat([first[key], second[key]]) for key in first}


def _pooled(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """features (B, T, d) averaged over each trial's valid bins -> (B, d)."""
    n_bins = mask.sum(1, keepdim=True).clamp(min=1).to(features.dtype)
    return features.sum(1) / n_bins
