"""Searches over an Estimator's settings on Ray Tune (optional extra ``neuralign[scale]``): grid, random and
population-based training (PBT, AutoLFADS-style), each trial driven by the one training loop.

A sweep is described by a :class:`SweepSpec` (``neuralign sweep CONFIG.yaml --out DIR`` reads it from YAML):
the model (a registered Estimator, e.g. ``LFADS``), the data, fixed settings, the search space (setting ->
``{grid: [...]}``, ``{choice: [...]}``, ``{uniform: [low, high]}``, ``{loguniform: [low, high]}`` or
``{randint: [low, high]}``, high excluded), the scheduler (a Ray Tune scheduler name and its options), the number
of trials, how many run at once and the resources of each. Everything is checked before Ray starts: every
searched name must be a field of the model's config dataclass, every range valid and every candidate value
accepted by the config.

Each trial fits the model on the training part of the data (``fit`` runs ``neuralign.train.train``); after every
epoch (``train.epoch_hook``) it reports to Tune and, every ``checkpoint_every`` epochs, hands Tune the training
loop's own checkpoint file (``neuralign.train_checkpoint``), from which a paused, exploited (PBT) or interrupted
trial continues with ``fit(checkpoint_path=..., resume=True)``.

Selection metric (label-free where the model is): for models that predict rates (``predict_rates``: LFADS,
SeqVAE) ``sv_bps``, sample validation (Keshtkaran et al. 2022): a fixed random ``sample_fraction`` of the count
entries of held-out selection trials (``selection_fraction`` of the trials, never trained on) is hidden from the
inputs (the rest scaled by 1 / (1 - fraction), as coordinated dropout does) and the predicted rates are scored on
the hidden entries in bits/spike (higher is better); spikes only, no behaviour. Other models: ``val_loss``, the
training loop's validation loss (lower is better).

Outputs in the ``out`` folder: ``sweep.yaml`` (the spec), ``experiment/`` (Tune's experiment, from which an
interrupted sweep resumes), ``results.csv`` / ``results.json`` (one row per trial: its settings and metrics),
``best_model.pt`` (the selected trial's model, the kept weights of its training loop) and figures
(``metric_over_time.png``, and ``pbt_lineage.png`` for PBT).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuralign._atomic import atomic_path
from neuralign._checks import describe, fraction, positive_int

KINDS = ("grid", "choice", "uniform", "loguniform", "randint")
SCHEDULER_OPTIONS = {"pbt": {"perturbation_interval", "quantile_fraction", "resample_probability",
                             "perturbation_factors"},
                     "fifo": set(), "asha": {"grace_period", "reduction_factor", "max_t"},
                     "async_hyperband": {"grace_period", "reduction_factor", "max_t"},
                     "median_stopping_rule": {"grace_period", "min_samples_required"}}
CHECKPOINT_FILE = "train.checkpoint"
MODEL_FILE = "model.pt"


@dataclass
class SweepSpec:
    """What to search (see the module docstring). ``data``: a file or bundled ``name[:part]`` (the CLI's data
    argument) holding one session; ``scheduler``: ``{"name": ..., options}``; ``resources``: per trial,
    ``{"cpu": n, "gpu": n}``."""

    model: str
    data: str
    search: dict[str, dict[str, list]]
    settings: dict[str, Any] = field(default_factory=dict)
    scheduler: dict[str, Any] = field(default_factory=lambda: {"name": "fifo"})
    trials: int = 8
    concurrent: int = 2
    resources: dict[str, float] = field(default_factory=lambda: {"cpu": 1, "gpu": 0})
    checkpoint_every: int = 5
    selection_fraction: float = 0.2
    sample_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        model_class(self.model)
        if not isinstance(self.data, str) or not self.data:
            raise TypeError(f"data: expected a file or a bundled dataset name[:part], got {describe(self.data)}.")
        positive_int("trials", self.trials)
        positive_int("concurrent", self.concurrent)
        positive_int("checkpoint_every", self.checkpoint_every)
        positive_int("seed", self.seed, minimum=0)
        fraction("selection_fraction", self.selection_fraction)
        fraction("sample_fraction", self.sample_fraction)
        unknown = set(self.resources) - {"cpu", "gpu"}
        if unknown or any(not isinstance(v, (int, float)) or v < 0 for v in self.resources.values()):
            raise ValueError(f"resources: expected {{cpu: n, gpu: n}} with numbers >= 0, got {self.resources!r}.")
        check_search(self.model, self.search, self.settings)
        check_scheduler(self.scheduler)

    @property
    def metric(self) -> tuple[str, str]:
        """(name, mode) of the selection metric for this model."""
        return ("sv_bps", "max") if hasattr(model_class(self.model), "predict_rates") else ("val_loss", "min")


def model_class(name: str) -> type:
    """The registered Estimator called ``name``."""
    import neuralign.models  # noqa: F401  (registers every model)
    from neuralign.models.base import _REGISTRY

    if name not in _REGISTRY:
        raise ValueError(f"model: unknown model {name!r}; registered models: {sorted(_REGISTRY)}.")
    return _REGISTRY[name]


def check_search(model: str, search: Any, settings: dict[str, Any]) -> None:
    """Every searched name is a field of the model's config and every range and candidate value is valid."""
    config_class = model_class(model).config_class
    fields = {f.name for f in dataclasses.fields(config_class)}
    if not isinstance(search, dict) or not search:
        raise ValueError(f"search: expected a mapping setting -> {{kind: values}}, got {search!r}.")
    for name in list(search) + list(settings):
        if name not in fields:
            where = "search" if name in search else "settings"
            raise ValueError(f"{where}: {model} has no setting {name!r}; its settings: {sorted(fields)}.")
    for name, spec in search.items():
        if not (isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in KINDS):
            raise ValueError(f"search.{name}: expected one of {{{', '.join(k + ': ...' for k in KINDS)}}}, got "
                             f"{spec!r}.")
        kind, values = next(iter(spec.items()))
        if not isinstance(values, list) or not values:
            raise ValueError(f"search.{name}.{kind}: expected a non-empty list, got {values!r}.")
        if kind in ("uniform", "loguniform", "randint"):
            if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise ValueError(f"search.{name}.{kind}: expected [low, high], two numbers, got {values!r}.")
            low, high = values
            if not low < high:
                raise ValueError(f"search.{name}.{kind}: invalid range [{low}, {high}]: low must be below high.")
            if kind == "loguniform" and low <= 0:
                raise ValueError(f"search.{name}.loguniform: invalid range [{low}, {high}]: low must be > 0.")
            if kind == "randint" and not all(isinstance(v, int) for v in values):
                raise ValueError(f"search.{name}.randint: expected two integers [low, high), got {values!r}.")
            candidates = [low, high - 1] if kind == "randint" else [low, high]
        else:
            candidates = values
        for value in candidates:  # the config's own checks, e.g. a dropout outside [0, 1)
            try:
                config_class(**{**settings, name: value})
            except (TypeError, ValueError) as error:
                raise ValueError(f"search.{name}: the value {value!r} is not a valid {name} of {model}: "
                                 f"{error}") from None


def check_scheduler(scheduler: Any) -> None:
    """A scheduler Ray Tune knows and neuralign configures, with options it takes."""
    if not isinstance(scheduler, dict) or "name" not in scheduler:
        raise ValueError(f"scheduler: expected {{name: ..., options}}, got {scheduler!r}.")
    name = scheduler["name"]
    if name not in SCHEDULER_OPTIONS:
        raise ValueError(f"scheduler: {name!r} is not a Ray Tune scheduler this sweep runs; choose one of "
                         f"{sorted(SCHEDULER_OPTIONS)}.")
    unknown = set(scheduler) - {"name"} - SCHEDULER_OPTIONS[name]
    if unknown:
        raise ValueError(f"scheduler: {name} takes no option {sorted(unknown)}; its options: "
                         f"{sorted(SCHEDULER_OPTIONS[name])}.")


def load_spec(path: str | Path) -> SweepSpec:
    """A :class:`SweepSpec` from a YAML file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config: no file at {str(path)!r} (expected a sweep YAML).")
    try:
        raw = yaml.load(path.read_text(), Loader=_loader())
    except yaml.YAMLError as error:
        raise ValueError(f"config: {str(path)!r} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"config: {str(path)!r} must hold a mapping (model, data, search, ...), got {describe(raw)}.")
    known = {f.name for f in dataclasses.fields(SweepSpec)}
    if set(raw) - known or not {"model", "data", "search"} <= set(raw):
        raise ValueError(f"config: {str(path)!r} needs model, data and search, and takes {sorted(known)}; got "
                         f"{sorted(raw)}.")
    return SweepSpec(**raw)


def _loader() -> type:
    """PyYAML's safe loader, also reading exponents without a dot (1e-3) as floats, not strings."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))
    return Loader


# ------------------------------------------------------------------------------------------------ one trial
def sample_validation(model: Any, data: Any, *, sample_fraction: float, seed: int) -> float:
    """Bits/spike of ``model``'s rates on a fixed random ``sample_fraction`` of ``data``'s count entries hidden from
    its inputs (the others scaled by 1 / (1 - sample_fraction))."""
    from neuralign.metrics import heldout_entries_bits_per_spike

    held = np.random.default_rng([seed, 17]).random(data.counts.shape) < sample_fraction
    held &= data.mask[..., None]
    inputs = dataclasses.replace(data, counts=np.where(held, 0.0, data.counts / (1.0 - sample_fraction))
                                 .astype(np.float32))
    return heldout_entries_bits_per_spike(model.predict_rates(inputs), data.counts, held)


def _metrics(model: Any, history: Any, selection: Any, spec: SweepSpec, epoch: int) -> dict[str, float]:
    logs = history.logs
    metrics = {"epoch": epoch, "train_loss": logs["train/loss"][-1],
               "val_loss": logs["val/loss"][-1] if "val/loss" in logs else float("nan")}
    if spec.metric[0] == "sv_bps":
        model.fitted_ = True  # the network exists and holds this epoch's weights; fit sets the flag at its end
        metrics["sv_bps"] = sample_validation(model, selection, sample_fraction=spec.sample_fraction, seed=spec.seed)
    return metrics


def split_for_selection(data: Any, spec: SweepSpec) -> tuple[Any, Any]:
    """(training trials, selection trials): the trials every trial fits on and those its metric is scored on."""
    return data.split(spec.selection_fraction, seed=spec.seed)


def run_trial(config: dict[str, Any], spec: dict[str, Any], data: Any) -> None:
    """Tune's function trainable: fit the model with ``config`` over the spec's settings, reporting every epoch
    and checkpointing through the training loop's own checkpoint file."""
    from ray import tune

    from neuralign.train import epoch_hook

    sweep = SweepSpec(**spec)
    train_part, selection = split_for_selection(data, sweep)
    model = model_class(sweep.model)(**{**sweep.settings, **config, "verbose": False})
    directory = Path(tempfile.mkdtemp(prefix="neuralign-trial-"))
    path = directory / CHECKPOINT_FILE
    restored = tune.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as folder:
            shutil.copyfile(Path(folder) / CHECKPOINT_FILE, path)
    every, last = sweep.checkpoint_every, model.config.max_epochs

    def report(epoch: int, history: Any) -> None:
        metrics = _metrics(model, history, selection, sweep, epoch + 1)
        saved = (epoch + 1) % every == 0 or history.stopped_early or epoch + 1 == last
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(directory)) if saved else None)

    with epoch_hook(report):
        model.fit(train_part, checkpoint_path=str(path), resume=restored is not None, checkpoint_every=every)
    model.save(directory / MODEL_FILE)  # the kept weights (the loop's best validation epoch), scored once more
    final = _metrics(model, model.history_, selection, sweep, model.history_.epochs_run)
    tune.report({**final, "final": 1.0}, checkpoint=tune.Checkpoint.from_directory(str(directory)))
    shutil.rmtree(directory, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ the sweep
def _space(spec: SweepSpec, tune: Any) -> dict[str, Any]:
    domains = {"grid": tune.grid_search, "choice": tune.choice, "uniform": lambda v: tune.uniform(*v),
               "loguniform": lambda v: tune.loguniform(*v), "randint": lambda v: tune.randint(*v)}
    return {name: domains[kind](values) for name, body in spec.search.items() for kind, values in body.items()}


def _scheduler(spec: SweepSpec, space: dict[str, Any]) -> Any:
    from ray.tune import schedulers

    options = {k: v for k, v in spec.scheduler.items() if k != "name"}
    name = spec.scheduler["name"]
    if name == "fifo":
        return schedulers.FIFOScheduler()
    if name == "pbt":
        grid = [n for n, body in spec.search.items() if "grid" in body]
        if grid:
            raise ValueError(f"search: PBT perturbs settings as it goes, so it takes no grid ({grid}); use choice.")
        options.setdefault("perturbation_interval", spec.checkpoint_every)
        if options["perturbation_interval"] % spec.checkpoint_every:
            raise ValueError(f"scheduler.perturbation_interval: {options['perturbation_interval']} must be a "
                             f"multiple of checkpoint_every ({spec.checkpoint_every}): PBT copies checkpoints.")
        return schedulers.PopulationBasedTraining(time_attr="epoch", hyperparam_mutations=space,
                                                  custom_explore_fn=Clip(spec.search), **options)
    if name in ("asha", "async_hyperband"):
        return schedulers.ASHAScheduler(time_attr="epoch", **options)
    return schedulers.MedianStoppingRule(time_attr="epoch", **options)


class Clip:
    """PBT's explore step keeps each perturbed setting inside its searched range: Tune multiplies a continuous
    value by 0.8 or 1.2 without bounds, which can leave the range and even the config's valid values (a dropout
    of 1.0)."""

    def __init__(self, search: dict[str, dict[str, list]]) -> None:
        self.bounds = {name: (kind, values) for name, body in search.items() for kind, values in body.items()
                       if kind in ("uniform", "loguniform", "randint")}

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for name, (kind, (low, high)) in self.bounds.items():
            if name in config:
                value = min(max(config[name], low), high)
                config[name] = int(min(round(value), high - 1)) if kind == "randint" else float(value)
        return config


def run_sweep(spec: SweepSpec, out: str | Path, *, data: Any = None, address: str | None = None,
              progress: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run (or resume, when ``out`` holds this sweep's experiment) ``spec``; write the outputs listed in the module
    docstring; return the results table. ``data``: a TrialData instead of loading ``spec.data``."""
    from neuralign._ray import ray_session, require_ray
    from neuralign.data.datasets import resolve_data
    from neuralign.data.trialdata import TrialData

    out = Path(out).resolve()
    saved = out / "sweep.yaml"
    if saved.exists() and load_spec(saved) != spec:
        raise ValueError(f"out: {out} holds another sweep ({saved}); choose another folder or remove it.")
    if data is None:
        data = resolve_data(spec.data)
    if not isinstance(data, TrialData):
        raise ValueError(f"data: {spec.data!r} is not one session (got {describe(data)}); name a part, e.g. "
                         "erdiff_miller_co:source.")
    require_ray("neuralign sweep")
    from ray import tune

    space = _space(spec, tune)
    scheduler = _scheduler(spec, space)
    metric, mode = spec.metric
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(saved) as temporary:
        temporary.write_text(_yaml(dataclasses.asdict(spec)))
    cpus = spec.resources.get("cpu", 1)
    with ray_session(address=address, num_cpus=max(1, math.ceil(cpus * spec.concurrent)), what="neuralign sweep",
                     worker_logs=False):
        trainable = tune.with_resources(tune.with_parameters(run_trial, spec=dataclasses.asdict(spec), data=data),
                                        {"cpu": cpus, "gpu": spec.resources.get("gpu", 0)})
        experiment = out / "experiment"
        if tune.Tuner.can_restore(str(experiment)):
            progress(f"resuming the sweep in {experiment}")
            tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_unfinished=True,
                                       resume_errored=True)
        else:
            concurrent = None if spec.scheduler["name"] == "pbt" else spec.concurrent  # PBT pauses, so not capped
            tuner = tune.Tuner(trainable, param_space=space, tune_config=tune.TuneConfig(
                metric=metric, mode=mode, scheduler=scheduler, num_samples=spec.trials,
                max_concurrent_trials=concurrent, reuse_actors=False),
                run_config=tune.RunConfig(name="experiment", storage_path=str(out), verbose=0,
                                          checkpoint_config=tune.CheckpointConfig(num_to_keep=4)))
        grid = tuner.fit()
    return write_outputs(grid, spec, out, progress)


def write_outputs(grid: Any, spec: SweepSpec, out: Path, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """The results table (CSV and JSON), the selected model and the figures, from Tune's ResultGrid."""
    from neuralign.plot.sweep import save_sweep_figures

    metric, mode = spec.metric
    rows, curves = [], {}
    for result in grid:
        frame = result.metrics_dataframe
        trial = (result.metrics or {}).get("trial_id") or Path(result.path).name
        values = [] if frame is None or metric not in frame else frame[metric].tolist()
        curves[trial] = ([] if frame is None else frame["epoch"].tolist(), values)
        last = result.metrics or {}
        rows.append({"trial": trial, "status": "error" if result.error else "done",
                     **{name: result.config.get(name) for name in spec.search},
                     metric: last.get(metric), f"best {metric}": (max if mode == "max" else min)(values, default=None),
                     "epochs": last.get("epoch"), "val_loss": last.get("val_loss"),
                     "seconds": last.get("time_total_s"), "error": str(result.error) if result.error else ""})
    rows.sort(key=lambda row: row["trial"])  # trial order (Tune's order differs after a restore): ties go to the first
    finished = [row for row in rows if row["status"] == "done" and row[metric] is not None]
    if not finished:
        raise RuntimeError(f"every trial failed; the first error: {rows[0]['error'] if rows else 'no trial ran'}")
    best = (max if mode == "max" else min)(finished, key=lambda row: row[metric])
    for row in rows:
        row["selected"] = row is best
    best_result = next(r for r in grid if ((r.metrics or {}).get("trial_id") or Path(r.path).name) == best["trial"])
    with best_result.checkpoint.as_directory() as folder, atomic_path(out / "best_model.pt") as temporary:
        shutil.copyfile(Path(folder) / MODEL_FILE, temporary)
    _write_table(rows, out)
    save_sweep_figures(curves, _lineage(out / "experiment", rows), metric, out)
    progress(f"selected {best['trial']} ({metric} {best[metric]:.4f}); wrote {out}/results.csv, results.json, "
             "best_model.pt and figures")
    return rows


def _lineage(experiment: Path, rows: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """PBT's exploit steps as (trial, the trial it copied, the copied trial's epoch): from ``pbt_global.txt``,
    whose tags start with the trial's index."""
    path = experiment / "pbt_global.txt"
    if not path.exists():
        return []
    by_index = {int(row["trial"].rsplit("_", 1)[-1]): row["trial"] for row in rows
                if row["trial"].rsplit("_", 1)[-1].isdigit()}  # trial ids end in their index: 3c2a1_00004
    events = []
    for line in path.read_text().splitlines():
        target, clone, _, clone_iteration = json.loads(line)[:4]
        indices = int(target.split("_")[0]), int(clone.split("_")[0])
        if all(index in by_index for index in indices):
            events.append((by_index[indices[0]], by_index[indices[1]], int(clone_iteration)))
    return events


def _write_table(rows: list[dict[str, Any]], out: Path) -> None:
    with atomic_path(out / "results.json") as temporary:
        temporary.write_text(json.dumps(rows, indent=1, default=str))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(out / "results.csv") as temporary:
        temporary.write_text(buffer.getvalue())


def _yaml(values: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(values, sort_keys=False)
