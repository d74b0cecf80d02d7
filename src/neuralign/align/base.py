"""The aligner interface and the machinery every read-in aligner shares.

An aligner keeps a fitted source :class:`SeqVAE` frozen (in eval mode) and fits only a new linear read-in for
the target session (target units -> the encoder's input space), so that the frozen encoder puts target trials
where the source's latents live and the frozen source behaviour head decodes them:

    Aligner(source_model, source=source_trials).fit(target_trials)   # target spikes only
    aligner.transform(target) -> (trials, time, latent_dim) aligned latents
    aligner.predict_behavior(target) -> (trials, time, dims) via the frozen source head

Unsupervised aligners never see target labels or behaviour. Each method defines ``objective(target_latents,
source_latents)``; candidate read-ins are trained by the one training loop for a fixed number of epochs, side by
side in one module (a stacked read-in: one encoder pass serves every candidate, and the loss is the sum of the
candidates' objectives, so each candidate's gradient is its own), and the candidate kept is the one with the
lowest ``selection_scores`` computed on target spikes alone (by default the method's own objective on all
target trials).

Initialisation ("pca"): with source principal axes U_s and target principal axes U_t of the spike counts (all
valid bins), a target read-in starts as W_t = W_s U_s Q U_t^T, mapping target components onto source components
with their scales matched. Q is diagonal, diag(S s_s / s_t), for components beyond ``explore_components``; S
holds one sign per component chosen without labels so that the two components' grand-mean time courses, or else
their skewness, agree (``_matching_signs``). Components of similar variance can swap order between sessions and
signs can be wrong, and each such error is a symmetric copy of the right map (a rotated or mirrored ring of
conditions), so the top ``explore_components`` target components get every signed permutation onto the top
source components (k! 2^k candidates: 8 for k = 2, 48 for k = 3, the default). With more candidates than
``restarts``, each candidate is first trained for ``screen_epochs`` epochs and the ``restarts`` candidates with
the lowest score are kept. With ``explore_components=0`` the candidates are the matched signs and
``restarts - 1`` random flips of them (each sign flipped with probability ``flip_probability``).

Replicas: each kept candidate is then trained ``replicas`` times from its initial read-in for ``epochs`` epochs
(side by side), each copy on its own resamples of the source trials, with the learning rate falling on a cosine
(``lr_schedule``). A candidate's score is the median over its copies, and the winner keeps its copy with the
lowest score. One training run's end point is noisy: copies of one candidate differed by 0.1-0.5 in exact OT
cost, as much as a right and a mirrored map differ, so one run chose a wrong map in 5 of 20 (model seed, aligner
seed) pairs on the monkey pair, and 4 copies with the median in 2 of 20 (README).

Calibration (``calibration="moments"``, off by default): the frozen encoder's posterior means shrink when its
input carries less information, and the target's read-in inputs carry less than the source's own units, so the
aligned latents come out a few per cent smaller than the source's. The mean and covariance of the aligned latents
of the fitting trials (valid bins) are mapped onto the source latents' by whitening and recolouring, as in
CORAL (Sun, Feng & Saenko 2016):

    z -> (z - m_t) C_t^(-1/2) C_s^(1/2) + m_s

fitted on target spikes alone, and applied by ``transform`` (``calibration=`` overrides the setting per call).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from neuralign._checks import describe, fraction, one_of, positive_float, positive_int
from neuralign.align.candidates import identity_read_in, initial_read_ins
from neuralign.align.report import AlignmentReport, map_relation, paired_margin
from neuralign.align.selection import check_labelled, labelled_trials, likelihood_per_trial
from neuralign.data.trialdata import TrialData, check_trialdata
from neuralign.models.sequential import SequenceModel
from neuralign.nn.matching import transport_cost
from neuralign.train import LR_SCHEDULES, TrainConfig, resolve_device, train


CALIBRATIONS = ("none", "moments")
# margins below these are reported as unclear (report_.warning): a paired z over target trials, or a relative
# difference of scores that are not sums over trials
MARGIN_THRESHOLDS = {"z": 2.0, "relative": 0.02}


@dataclass
class AlignConfig:
    """Settings shared by the read-in aligners.

    ``batch_size`` is in target trials; the set distances are minibatch estimates, so the default takes a
    typical alignment set (up to 256 trials) whole: on the monkey pair's 168 target trials, minibatches of 128
    and 40 left the right candidate and a mirrored one within 0.1 % of each other. Lower it for long trials
    (all candidates' encoder activations for one batch are held at once)."""

    epochs: int = 60
    batch_size: int = 256
    learning_rate: float = 1e-2
    restarts: int = 8
    init: str = "pca"
    n_components: int = 16
    explore_components: int = 3
    screen_epochs: int = 25
    replicas: int = 4
    rotations: int = 0
    reference: str = "trials"
    lr_schedule: str = "cosine"
    flip_probability: float = 0.25
    calibration: str = "none"
    seed: int = 0
    device: str | None = None
    verbose: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "restarts", "n_components", "replicas"):
            positive_int(name, getattr(self, name))
        positive_float("learning_rate", self.learning_rate)
        positive_int("explore_components", self.explore_components, minimum=0)
        if self.explore_components > 5:
            raise ValueError(f"explore_components: expected at most 5 (k! 2^k candidates: 3840 for k = 5), got "
                             f"{self.explore_components}.")
        positive_int("screen_epochs", self.screen_epochs)
        positive_int("rotations", self.rotations, minimum=0)
        if self.screen_epochs > self.epochs:
            raise ValueError(f"screen_epochs: expected at most epochs ({self.epochs}), got {self.screen_epochs}.")
        fraction("flip_probability", self.flip_probability, open_interval=False)
        positive_int("seed", self.seed, minimum=0)
        one_of("init", self.init, ("pca", "random"))
        one_of("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        one_of("calibration", self.calibration, CALIBRATIONS)
        one_of("reference", self.reference, ("trials", "conditions"))
        resolve_device(self.device)


class Aligner:
    """Base of all aligners: validation, the frozen source model and the aligned-latent API."""

    name: ClassVar[str] = "aligner"
    supervised: ClassVar[bool] = False

    def __init__(self, source_model: SequenceModel, *, source: TrialData | None = None) -> None:
        if not isinstance(source_model, SequenceModel):
            raise TypeError(f"source_model: expected a fitted neuralign sequence model (SeqVAE or LFADS), got "
                            f"{describe(source_model)}.")
        if not source_model.fitted_:
            raise ValueError(f"source_model: the {type(source_model).__name__} is not fitted; call "
                             "source_model.fit(source) first.")
        self.source_model = source_model
        self.source = None if source is None else self._check_source(source)
        self.fitted_ = False

    def _check_source(self, source: TrialData) -> TrialData:
        check_trialdata("source", source)
        if source.n_units != self.source_model.units_[0]:
            raise ValueError(f"source: has {source.n_units} units but the source model's read-in expects "
                             f"{self.source_model.units_[0]}.")
        return source

    def _check_target(self, target: TrialData, *, fitting: bool) -> TrialData:
        check_trialdata("target", target)
        if target.signal != "counts":
            raise ValueError(f"target: expected spike counts (signal='counts'), got signal={target.signal!r}.")
        if self.source is not None and target.n_time != self.source.n_time:
            raise ValueError(f"target: has {target.n_time} time bins per trial but the source has "
                             f"{self.source.n_time}; cut both to the same trial length.")
        if not fitting:
            if not self.fitted_:
                raise ValueError(f"{type(self).__name__} is not fitted: call fit(target) first.")
            if target.n_units != self.n_target_units_:
                raise ValueError(f"target: has {target.n_units} units but the aligner was fitted on "
                                 f"{self.n_target_units_}.")
        return target

    @property
    def network(self) -> Any:
        return self.source_model.network_

    def fit(self, target: TrialData) -> "Aligner":
        raise NotImplementedError

    def transform(self, target: TrialData) -> np.ndarray:
        """Aligned latents of ``target`` trials, (trials, time, latent_dim)."""
        raise NotImplementedError

    def predict_behavior(self, target: TrialData) -> np.ndarray:
        """Behaviour decoded from the aligned latents by the frozen source head, (trials, time, dims)."""
        return self.source_model.decode_behavior(self.transform(target))


class _StackedLinear(nn.Module):
    """C linear maps side by side: (trials, time, in) shared by all, or (C, trials, time, in) one per candidate,
    -> (C, trials, time, out). The read-ins (and a method's read-outs) of C candidates."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            return torch.einsum("cbti,coi->cbto", x, self.weight) + self.bias[:, None, None, :]
        return torch.einsum("bti,coi->cbto", x, self.weight) + self.bias[:, None, None, :]

    def layer(self, index: int) -> nn.Linear:
        """Candidate ``index`` as a plain nn.Linear (a copy)."""
        out_features, in_features = self.weight.shape[1:]
        layer = nn.Linear(in_features, out_features).to(self.weight.device)
        with torch.no_grad():
            layer.weight.copy_(self.weight[index])
            layer.bias.copy_(self.bias[index])
        return layer


class _Candidates(nn.Module):
    """What the training loop optimises: C candidate read-ins, optionally C target read-outs (a method that
    scores the target's own spikes), and any extra parts of a method per candidate."""

    def __init__(self, read_ins: list[nn.Linear], extras: list[dict[str, nn.Module]],
                 read_outs: list[nn.Linear] | None = None) -> None:
        super().__init__()
        self.read_in = _StackedLinear(read_ins)
        self.read_out = None if read_outs is None else _StackedLinear(read_outs)
        self.extras = nn.ModuleList([nn.ModuleDict(extra) for extra in extras])

    def __len__(self) -> int:
        return self.read_in.weight.shape[0]

    def select(self, keep: list[int]) -> "_Candidates":
        """A new module holding copies of candidates ``keep``, in that order."""
        read_outs = None if self.read_out is None else [self.read_out.layer(index) for index in keep]
        return _Candidates([self.read_in.layer(index) for index in keep],
                           [dict(copy.deepcopy(self.extras[index])) for index in keep], read_outs)


class ReadInAligner(Aligner):
    """Fits a target read-in by minimising ``objective`` from several initialisations (see module docstring).

    All candidates are trained side by side in one module (a stacked read-in, one encoder pass for all): the
    loss is the sum of the candidates' objectives, so each candidate's gradient is its own."""

    def __init__(self, source_model: SequenceModel, *, source: TrialData, config: AlignConfig | None = None,
                 **settings: Any) -> None:
        super().__init__(source_model, source=source)
        if self.source is None:
            raise ValueError(f"source: {type(self).__name__} needs the source trials (source=TrialData) to "
                             "match the target's latents to.")
        self.config = config if config is not None else AlignConfig(**settings)
        self.read_in_: nn.Linear | None = None
        self.restart_scores_: list[float] = []

    # -------------------------------------------------------------------------- what a method defines
    def objective(self, target_latents: torch.Tensor, source_latents: torch.Tensor,
                  module: _Candidates) -> torch.Tensor:
        """(C,) loss of each candidate: target_latents (C, trials, time, d), source_latents (C, m, time, d) (each
        candidate's resample of the source trials)."""
        raise NotImplementedError

    def extra_modules(self) -> dict[str, nn.Module]:
        """Modules trained alongside each candidate read-in (e.g. a domain critic)."""
        return {}

    def extra_tensors(self, target: TrialData, device: torch.device) -> dict[str, torch.Tensor]:
        """Per-trial target tensors the loss needs beyond counts and mask (only supervised references)."""
        return {}

    def selection_scores(self, target_latents: torch.Tensor) -> np.ndarray:
        """(C,) scores of the candidates' latents on all target trials; lower is better; computed without labels.
        Default: the objective."""
        source = self.source_latents_.expand(target_latents.shape[0], *self.source_latents_.shape)
        with torch.no_grad():
            return self.objective(target_latents, source, self._module).cpu().numpy()

    def transport_scores(self, target_latents: torch.Tensor) -> np.ndarray:
        """(C,) exact OT cost (``transport_cost``) between each candidate's latent trajectories and the source's:
        the selection score of the OT-based aligners."""
        return transport_cost(target_latents.flatten(-2), self.source_latents_.flatten(-2)).cpu().numpy()

    # ------------------------------------------------------------------------------------------ fitting
    def fit(self, target: TrialData, *, labelled: int | None = None) -> "ReadInAligner":
        """Fit the target read-in on ``target``'s spikes (module docstring).

        ``labelled``: k > 0 target trials whose behaviour (or, without behaviour, condition labels) choose among
        the candidates trained without labels (``align.selection``; few-shot, reported apart). The report keeps the
        label-free choice too."""
        target = self._check_target(target, fitting=True)
        if labelled is not None:
            if self.supervised:
                raise ValueError(f"labelled: {type(self).__name__} already trains on labels; labelled= is for the "
                                 "unsupervised aligners.")
            check_labelled(target, self.source, labelled)
        config = self.config
        device = resolve_device(config.device)
        self.network.to(device).eval()
        for parameter in self.network.parameters():
            parameter.requires_grad_(False)
        self.source_latents_ = torch.as_tensor(self._reference_latents(), device=device)
        tensors = {**_target_tensors(target, device), **self.extra_tensors(target, device)}
        self._target = tensors
        torch.manual_seed(config.seed)  # random initial read-ins (init="random") are seeded
        read_ins = self._initial_read_ins(target, device)
        # the no-alignment candidate of a target with the source's unit count: never trained, never screened out
        protected = []
        if not self.supervised and target.n_units == self.source.n_units:
            protected = [len(read_ins)]
            read_ins.append(identity_read_in(self.network.read_in.layers[0], device))
        self._fixed_candidates = set(protected)
        self.candidate_names_ = [f"pca {i}" for i in range(len(read_ins) - len(protected))] + ["source read-in"
                                                                                               ] * len(protected)
        indices = list(range(len(read_ins)))
        if len(read_ins) > config.restarts:  # screen: keep the candidates with the lowest scores
            self._start(read_ins, indices, replicas=1, device=device)
            self._train_read_in(tensors, epochs=config.screen_epochs, seed=config.seed * 1000)
            ranked = [int(i) for i in np.argsort(self._score(tensors), kind="stable") if i not in protected]
            indices = ranked[:config.restarts - len(protected)] + protected
        # each kept candidate, ``replicas`` times from its start with its own source resamples (the label-based
        # references draw no source trials: one copy each)
        replicas = 1 if self.supervised else config.replicas
        self._start(read_ins, indices, replicas=replicas, device=device)
        self._train_read_in(tensors, epochs=config.epochs, seed=config.seed * 1000 + 1)
        scores = self._score(tensors, table=not self.supervised).reshape(len(indices), replicas)
        self.replica_scores_ = scores.tolist()
        self.restart_candidates_ = indices
        best_replica = np.argmin(scores, axis=1)  # of each candidate, its replica with the lowest score
        kept = [group * replicas + int(best_replica[group]) for group in range(len(indices))]
        self.restart_scores_ = self._candidate_scores(scores, kept)
        self.restart_read_ins_ = [self._module.read_in.layer(i) for i in kept]
        self.best_restart_ = int(np.argmin(self.restart_scores_))
        if not self.supervised:
            self.report_ = self._report(kept, target, labelled)
            self.best_restart_ = self.report_.chosen
        self._module = self._module.select([kept[self.best_restart_]]).to(device)
        self._replicas = 1
        self.refine(tensors)
        self.read_in_ = self._module.read_in.layer(0)
        self.read_out_ = None if self._module.read_out is None else self._module.read_out.layer(0)
        self.n_target_units_ = target.n_units
        self.fitted_ = True
        self._fit_calibration(target)
        return self

    # ------------------------------------------------------------------------------------ the choice
    @property
    def selection_name(self) -> str:
        """Which label-free score chooses the candidate."""
        return getattr(self, "selection", "objective")

    def likelihood_scores(self, target_latents: torch.Tensor) -> np.ndarray:
        """(C,) held-out Poisson NLL per bin of the target spikes under each candidate (``align.selection``); the
        per-trial values are kept for the report's margin."""
        per_trial = likelihood_per_trial(target_latents, self._target["counts"], self._target["mask"],
                                         seed=self.config.seed)
        self._per_trial_scores = per_trial.cpu().numpy()
        return self._per_trial_scores.mean(1)

    def _report(self, kept: list[int], target: TrialData, labelled: int | None) -> AlignmentReport:
        """The label-free confidence (``align.report``) over the kept candidates, and the few-shot choice."""
        latents = self._scored_latents[kept].cpu().numpy()  # (C, trials, time, d) of the kept replicas
        mask = target.mask
        unsupervised = int(np.argmin(self.restart_scores_))
        chosen = unsupervised
        if labelled:
            index = labelled_trials(target, labelled, seed=self.config.seed)
            chosen = int(np.argmin(self._labelled_scores(latents[:, index], target.subset(index))))
        relations = [map_relation(latents[chosen][mask], other[mask]) for other in latents]
        different = [i for i, relation in enumerate(relations) if relation != "same"]
        runner_up = min(different, key=lambda i: self.restart_scores_[i]) if different else None
        per_trial = self._choice_per_trial
        if runner_up is None:
            margin, kind = float("inf"), "z" if per_trial is not None else "relative"
        elif per_trial is not None:
            margin, kind = paired_margin(per_trial[kept[chosen]], per_trial[kept[runner_up]]), "z"
        else:
            best = self.restart_scores_[chosen]
            margin, kind = (self.restart_scores_[runner_up] - best) / max(abs(best), 1e-12), "relative"
        table = getattr(self, "candidate_scores_", None)
        scores = [dict(table[i]) for i in kept] if table else [{self.selection_name: s} for s in self.restart_scores_]
        return AlignmentReport(scores=scores, selection="k labelled trials" if labelled else self.selection_name,
                               chosen=chosen, relations=relations, runner_up=runner_up, margin=float(margin),
                               margin_kind=kind, threshold=MARGIN_THRESHOLDS[kind], labelled=labelled or 0,
                               unsupervised_choice=unsupervised,
                               extra={"candidates": [self.candidate_names_[self.restart_candidates_[i]]
                                                     for i in range(len(kept))]})

    def _labelled_scores(self, latents: np.ndarray, labelled: TrialData) -> np.ndarray:
        """(C,) few-shot score of each candidate's latents (C, k, time, d) of the labelled trials; lower is better."""
        model, weight = self.source_model, labelled.mask[..., None]
        if labelled.behavior is not None:
            truth = (labelled.behavior - model.behavior_mean_) / model.behavior_std_
            decoded = np.stack([(model.decode_behavior(z) - model.behavior_mean_) / model.behavior_std_
                                for z in latents])
            return (((decoded - truth) ** 2) * weight).sum((1, 2, 3)) / weight.sum()
        source_latents = model.transform(self.source)
        averages = {c: source_latents[self.source.labels == c].mean(0) for c in np.unique(self.source.labels)}
        goals = np.stack([averages[c] for c in labelled.labels])
        return (((latents - goals) ** 2) * weight).sum((1, 2, 3)) / weight.sum()

    def _reference_latents(self) -> np.ndarray:
        """The source latents the target's are matched to: (source trials, time, d), each trial's own
        (``reference="trials"``) or its condition's mean trajectory (``"conditions"``, needs source labels)."""
        latents = self.source_model.transform(self.source)
        if self.config.reference == "trials":
            return latents
        if self.source.labels is None:
            raise ValueError('reference: "conditions" needs source condition labels, but the source has none; '
                             'use reference="trials".')
        mask = self.source.mask[..., None]
        out = np.empty_like(latents)
        for condition in np.unique(self.source.labels):
            rows = self.source.labels == condition
            out[rows] = (latents[rows] * mask[rows]).sum(0) / np.maximum(mask[rows].sum(0), 1)
        return out * mask

    def _fit_calibration(self, target: TrialData) -> None:
        """The moment map of ``calibration="moments"`` (module docstring): ``calibration_`` = (m_t, M, m_s)."""
        # the base class's transform: a subclass's post-processing (ERDiff's denoising) comes after calibration
        aligned = ReadInAligner.transform(self, target, calibration="none")[target.mask].astype(np.float64)
        source = self.source_latents_.cpu().numpy()[self.source.mask].astype(np.float64)
        whiten = _matrix_power(np.atleast_2d(np.cov(aligned.T)), -0.5)
        colour = _matrix_power(np.atleast_2d(np.cov(source.T)), 0.5)
        self.calibration_ = (aligned.mean(0), whiten @ colour, source.mean(0))

    def _start(self, read_ins: list[nn.Linear], indices: list[int], *, replicas: int, device: torch.device) -> None:
        """``self._module``: candidates ``indices`` from their initial read-ins, each ``replicas`` times in a row
        (candidate-major), with fresh seeded extra modules."""
        torch.manual_seed(self.config.seed)
        chosen = [read_ins[i] for i in indices for _ in range(replicas)]
        read_outs = self.initial_read_outs(chosen)
        self._module = _Candidates(chosen, [self.extra_modules() for _ in chosen], read_outs).to(device)
        frozen = [position for position, index in enumerate(i for i in indices for _ in range(replicas))
                  if index in self._fixed_candidates]
        if frozen:  # the no-alignment candidate stays the source's read-in: its rows get no gradient
            keep = torch.ones(len(chosen), 1, device=device)
            keep[frozen] = 0.0
            self._module.read_in.weight.register_hook(lambda grad: grad * keep.unsqueeze(-1))
            self._module.read_in.bias.register_hook(lambda grad: grad * keep)
        self._replicas = replicas
        self.prepare_candidates()

    def _score(self, tensors: dict[str, torch.Tensor], *, table: bool = False) -> np.ndarray:
        # one candidate at a time: scoring covers all target trials, which need not fit in memory C times over
        with torch.no_grad():
            latents = torch.stack([self._encode(self._module.read_in.layer(i), tensors)
                                   for i in range(len(self._module))])
        self._scored_latents, self._per_trial_scores = latents, None
        chosen_by = np.asarray(self.selection_scores(latents), dtype=np.float64)
        if table:  # every label-free signal, for the report (the selection's own per-trial values kept)
            per_trial = self._per_trial_scores  # set when the selection score was the likelihood
            with torch.no_grad():
                likelihood = chosen_by if per_trial is not None else self.likelihood_scores(latents)
                transport = self.transport_scores(latents)
            self._likelihood_per_trial = self._per_trial_scores
            self._choice_per_trial = per_trial
            self.candidate_scores_ = [{self.selection_name: float(a), "likelihood": float(b), "transport": float(c)}
                                      for a, b, c in zip(chosen_by, likelihood, transport)]
        return chosen_by

    def _candidate_scores(self, scores: np.ndarray, kept: list[int]) -> list[float]:
        """Each kept candidate's score for the choice, from its replicas' (candidates, replicas) selection scores:
        the median (``kept``: each candidate's replica with the lowest score)."""
        return [float(score) for score in np.median(scores, axis=1)]

    def prepare_candidates(self) -> None:
        """Hook called once before the candidates are trained (e.g. to move method state to the device)."""

    def initial_read_outs(self, read_ins: list[nn.Linear]) -> list[nn.Linear] | None:
        """Target read-outs trained with the candidates (None: the method has none), one per initial read-in
        (the target tensors are ``self._target``)."""
        return None

    def refine(self, tensors: dict[str, torch.Tensor]) -> None:
        """Hook called on the selected candidate (``self._module``, one candidate) before it becomes the result."""

    def _train_read_in(self, tensors: dict[str, torch.Tensor], *, epochs: int, seed: int,
                       learning_rate: float | None = None) -> None:
        """Train ``self._module`` on the target tensors by ``self._loss`` with the one training loop.

        Gradient clipping is off: it acts on the global norm, which would couple the candidates (Adam's steps
        are bounded by the learning rate anyway)."""
        config = self.config
        train(self._module, self._loss, [tensors], TrainConfig(
            max_epochs=epochs, batch_size=config.batch_size, learning_rate=learning_rate or config.learning_rate,
            weight_decay=0.0, lr_schedule=config.lr_schedule, val_fraction=0.0, patience=epochs, seed=seed,
            device=config.device, grad_clip=0.0,
            verbose=config.verbose))
        self._module.eval()

    def _loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        latents = self._encode(self._module.read_in, batch)
        return {"loss": self.objective(latents, self._source_resamples(latents), self._module).sum()}

    def _source_resamples(self, latents: torch.Tensor) -> torch.Tensor:
        """(C, m, time, d) source trials drawn with replacement for C candidates' (C, trials, time, d) latents:
        one draw per replica, shared by the candidates' copies with that replica number."""
        n_source, n_candidates = self.source_latents_.shape[0], latents.shape[0]
        size = min(latents.shape[1] * 2, n_source)
        index = torch.randint(0, n_source, (self._replicas, size), device=latents.device)
        draws = self.source_latents_[index]
        if self._replicas == 1:
            return draws.expand(n_candidates, *draws.shape[1:])
        return draws[torch.arange(n_candidates, device=latents.device) % self._replicas]

    def _encode(self, read_in: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Latents of ``batch["counts"]`` through ``read_in`` and the frozen source model (its deterministic
        latent path, ``latents_from_inputs``; ragged trials by ``batch["lengths"]``): (trials, time, d), or (C,
        trials, time, d) for a stacked read-in."""
        flat, lengths, leading = self._read_in_outputs(read_in, batch)
        latents = self.source_model.latents_from_inputs(flat, lengths)
        return latents.reshape(*leading, latents.shape[-1]) * batch["mask"].unsqueeze(-1)

    @staticmethod
    def _read_in_outputs(read_in: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any, tuple]:
        """``read_in`` applied to the batch's counts, flattened to (C * trials, time, features) for the frozen
        model, the trial lengths repeated to match (or None), and the leading shape ((C,) trials, time)."""
        inputs = read_in(batch["counts"])
        flat = inputs.reshape(-1, *inputs.shape[-2:])
        lengths = batch.get("lengths")
        if lengths is not None:
            lengths = lengths.repeat(flat.shape[0] // lengths.shape[0])
        return flat, lengths, tuple(inputs.shape[:-1])

    def transform(self, target: TrialData, *, restart: int | None = None,
                  calibration: str | None = None) -> np.ndarray:
        """Aligned latents (trials, time, latent_dim); ``restart`` picks another candidate's read-in;
        ``calibration`` ("none" or "moments") overrides the configured one."""
        target = self._check_target(target, fitting=False)
        calibration = self.config.calibration if calibration is None else one_of("calibration", calibration,
                                                                                   CALIBRATIONS)
        read_in = self.read_in_
        if restart is not None:
            if not (isinstance(restart, int) and 0 <= restart < len(self.restart_read_ins_)):
                raise ValueError(f"restart: expected an index in [0, {len(self.restart_read_ins_)}), got {restart!r}.")
            read_in = self.restart_read_ins_[restart]
        device = read_in.weight.device
        with torch.no_grad():
            latents = self._encode(read_in, _target_tensors(target, device)).cpu().numpy()
        if calibration == "moments":
            target_mean, matrix, source_mean = self.calibration_
            calibrated = (latents - target_mean) @ matrix + source_mean
            latents = np.where(target.mask[..., None], calibrated, 0.0).astype(latents.dtype)
        return latents

    # --------------------------------------------------------------------------------- initialisation
    def _initial_read_ins(self, target: TrialData, device: torch.device) -> list[nn.Linear]:
        """The candidates' initial read-ins (``align.candidates``; module docstring)."""
        config = self.config
        return initial_read_ins(self.network.read_in.layers[0], self.source, target, init=config.init,
                                n_components=config.n_components, explore=config.explore_components,
                                rotations=config.rotations, restarts=config.restarts,
                                flip_probability=config.flip_probability, seed=config.seed, device=device)


def _target_tensors(target: TrialData, device: torch.device) -> dict[str, torch.Tensor]:
    """``counts``, ``mask`` and, for ragged trials, ``lengths`` of the target as tensors on ``device``."""
    tensors = {"counts": torch.as_tensor(target.counts, device=device),
               "mask": torch.as_tensor(target.mask, device=device)}
    if target.lengths is not None:
        tensors["lengths"] = torch.as_tensor(target.lengths, device=device)
    return tensors


def _matrix_power(matrix: np.ndarray, power: float) -> np.ndarray:
    """A symmetric positive semi-definite matrix to ``power`` by its eigendecomposition (eigenvalues floored)."""
    values, vectors = np.linalg.eigh(matrix)
    values = np.maximum(values, 1e-9 * max(values.max(), 1e-12))
    return (vectors * values ** power) @ vectors.T
