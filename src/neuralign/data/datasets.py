"""One registry for the bundled real recordings and the synthetic generators.

Every dataset is reached the same way, by name::

    >>> from neuralign.data.datasets import list_datasets, load
    >>> source, target = load("erdiff_miller_co")
    >>> source.counts.shape
    (168, 14, 187)
    >>> sorted(info.name for info in list_datasets(kind="real"))[:2]
    ['erdiff_miller_co', 'golub_bci_learning']

Real recordings live in ``neuralign/data/bundled/<folder>/`` with their upstream licence (``LICENSE.txt``)
and provenance (``SOURCE.md``) beside the data. Synthetic generators are registered by
``neuralign.data.synthetic``. New datasets are added with the :func:`register` decorator.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from neuralign._checks import describe, one_of, positive_int
from neuralign.data.registry import (_REGISTRY, BUNDLED, KINDS, DatasetInfo, _bundled, _bundled_meta,  # noqa: F401
                                     register)
from neuralign.data.trialdata import TrialData


def _registry() -> dict[str, DatasetInfo]:
    """The registry, with the generators of the other data modules registered (imported on first use)."""
    import neuralign.data.synthetic  # noqa: F401  (registers the generators on first import)
    import neuralign.data.synthetic_multimodal  # noqa: F401
    import neuralign.data.vocalisations  # noqa: F401  (synthetic_vocalisations, vocalmat_usv)
    import neuralign.data.multiregion  # noqa: F401  (synthetic_regions, digits_mlp)
    import neuralign.data.paired  # noqa: F401  (ring_digits, paired_digits)
    import neuralign.data.mnist  # noqa: F401  (mnist_gaussian, mnist_mlp: read from a user-given file)

    return _REGISTRY


def list_datasets(kind: str | None = None) -> list[DatasetInfo]:
    """All registered datasets, sorted by name; ``kind`` = ``"real"`` or ``"synthetic"`` keeps one kind."""
    if kind is not None:
        one_of("kind", kind, KINDS)
    return [info for name, info in sorted(_registry().items()) if kind is None or info.kind == kind]


def load(name: str, **kwargs: Any) -> Any:
    """Load a bundled recording or run a synthetic generator by name.

    Parameters
    ----------
    name : a name from :func:`list_datasets`.
    **kwargs : the dataset's own arguments (see ``DatasetInfo.parameters`` or the loader's docstring).

    Returns
    -------
    TrialData, a list of TrialData (sessions) or a dict name -> TrialData (regions / phases); see
    ``DatasetInfo.returns``.
    """
    registry = _registry()
    if not isinstance(name, str):
        raise TypeError(f"name: expected a dataset name (str), got {describe(name)}; "
                        f"valid names: {', '.join(sorted(registry))}.")
    if name not in registry:
        raise ValueError(f"name: unknown dataset {name!r}; valid names: {', '.join(sorted(registry))}.")
    info = registry[name]
    signature = inspect.signature(info.loader)
    try:
        signature.bind(**kwargs)
    except TypeError as error:
        accepted = ", ".join(f"{key}={parameter.default!r}" for key, parameter in signature.parameters.items())
        raise TypeError(f"load('{name}'): {error}; '{name}' accepts "
                        f"{accepted or 'no arguments'}.") from None
    return info.loader(**kwargs)


# ----------------------------------------------------------------------------------------------- file access
def resolve_data(spec: str, *, nwb: dict[str, Any] | None = None) -> Any:
    """A file path or ``name[:part]`` of a registered dataset -> TrialData, list or dict of TrialData.

    ``nwb``: keyword arguments of :func:`neuralign.data.nwb.read_nwb` (``bin_size`` and ``window`` required) for
    an ``.nwb`` file; other inputs ignore them. Marker-less .npz / .h5 files with a ``counts`` array are read as
    plain arrays (see :mod:`neuralign.data.io`).
    """
    from neuralign.data import io

    path = Path(spec)
    if path.exists():
        if path.suffix.lower() == ".nwb":
            options = {key: value for key, value in (nwb or {}).items() if value is not None}
            missing = [name for name in ("bin_size", "window") if name not in options]
            if missing:
                raise ValueError(f"data: {spec!r} is an NWB file of spike times, binned into trials on reading; "
                                 f"give {' and '.join(missing)} (command line: --bin-size SECONDS --window "
                                 "BEFORE,AFTER, seconds before and after each trial's event, e.g. --bin-size 0.02 "
                                 "--window 0.2,0.5; --event picks the trials-table column, default start_time).")
            return io.load(path, format="nwb", **options)
        return io.load(spec)
    name, _, part = spec.partition(":")
    names = [info.name for info in list_datasets()]
    if name not in names:
        raise ValueError(f"data: {spec!r} is neither an existing file nor a bundled dataset; datasets: {names}.")
    data = load(name)
    if not part:
        return data
    if isinstance(data, dict):
        if part not in data:
            raise ValueError(f"data: {name!r} has parts {sorted(data)}, not {part!r}.")
        return data[part]
    if isinstance(data, list):
        for index, session in enumerate(data):
            if part == str(index) or part == str(session.meta.get("session")):
                return session
        raise ValueError(f"data: {name!r} has sessions {[str(s.meta.get('session', i)) for i, s in enumerate(data)]}, "
                         f"not {part!r}.")
    raise ValueError(f"data: {name!r} is a single recording; drop ':{part}'.")


def _read_mat(path: Path) -> dict[str, Any]:
    """Variables of a MATLAB file: scipy for v5 files, h5py (flat numeric variables) for v7.3 files."""
    import scipy.io

    try:
        return scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except NotImplementedError:  # MATLAB v7.3 = HDF5
        import h5py

        with h5py.File(path, "r") as handle:  # MATLAB stores arrays transposed (column-major)
            return {key: np.asarray(value).T for key, value in handle.items() if isinstance(value, h5py.Dataset)}


# ---------------------------------------------------------------------------------------------- erdiff_miller_co
_ERDIFF_SESSIONS = ("source", "target")


@register(
    "erdiff_miller_co", kind="real",
    description="Macaque M1, centre-out reaching to 8 targets (Miller lab), two sessions used as source and "
                "target in the ERDiff paper. Trials are time-normalised to 14 bins; units are not matched "
                "across sessions; trials are ordered by direction 0..7, 0..7, ... (shuffle before batching).",
    returns="[source, target] TrialData (168 trials, 14 bins, 187 / 172 units), behavior = 2-D hand velocity "
            "(position units per bin), labels = reach direction 0..7 (21 trials each); session='source' or "
            "'target' returns one TrialData.",
    citation="Wang Y, Wu Z, Li C, Wu A. Extraction and recovery of spatio-temporal structure in latent dynamics "
             "alignment with diffusion models (ERDiff). NeurIPS 2023. Recordings: Miller lab (Northwestern), "
             "as used in Dyer EL et al., A cryptography-based approach for movement decoding, Nat Biomed Eng 2017.",
    license="MIT (github.com/yulewang97/ERDiff, (c) 2023 AlexWang)")
def load_erdiff_miller_co(session: str | None = None) -> list[TrialData] | TrialData:
    """Source and target sessions of the ERDiff centre-out data.

    Parameters
    ----------
    session : None for both sessions ``[source, target]``, or ``"source"`` / ``"target"`` for one.

    Returns
    -------
    TrialData with counts (168, 14, units) = time-normalised spike counts (non-negative multiples of 1/13, as
    upstream), behavior (168, 14, 2) = hand velocity ``np.gradient(pos, axis=1)`` in position units per bin,
    labels (168,) reach direction 0..7. ``bin_size`` is the nominal 0.02 s that ERDiff assumes; the bins are
    time-normalised, so their true width varies from trial to trial.
    """
    if session is not None:
        one_of("session", session, _ERDIFF_SESSIONS)
    sessions = _ERDIFF_SESSIONS if session is None else (session,)
    out = []
    for name in sessions:
        with np.load(_bundled("erdiff_miller_co", f"{name}_data_inte14_aligned.npz"), allow_pickle=False) as file:
            neural, position, labels = file["neural"], file["pos"], file["label"]
        out.append(TrialData(
            counts=neural, behavior=np.gradient(position, axis=1), labels=labels, bin_size=0.02,
            meta=_bundled_meta("erdiff_miller_co", subject="Miller-lab macaque (not documented)", session=name,
                               region="M1", behavior="hand velocity (position units per bin)",
                               bin_note="time-normalised bins (14 per trial); 0.02 s is nominal")))
    return out if session is None else out[0]


# -------------------------------------------------------------------------------------------------- semedo_v1v2
_SEMEDO_TRIALS, _SEMEDO_BINS = 400, 10


@register(
    "semedo_v1v2", kind="real",
    description="Macaque V1 and V2 recorded simultaneously during one drifting-grating condition: residual "
                "spike counts (each trial minus the PSTH), the sample data of the communication-subspace paper.",
    returns="dict {'V1': TrialData (400, 10, 79), 'V2': TrialData (400, 10, 31), 'V1_heldout': TrialData "
            "(400, 10, 31)} with the same trials; signal='continuous' (zero-mean residuals).",
    citation="Semedo JD, Zandvakili A, Machens CK, Yu BM, Kohn A. Cortical areas interact through a "
             "communication subspace. Neuron 102(1):249-259, 2019.",
    license="MIT (github.com/joao-semedo/communication-subspace, (c) 2018 joao-semedo)")
def load_semedo_v1v2() -> dict[str, TrialData]:
    """V1 source units, V2 target units and held-out V1 units, same 400 trials of 10 bins.

    The upstream 4000-row matrices are trials x bins in trial-major order (row = trial * 10 + bin): with that
    reshape the mean over trials of every bin is exactly zero (the PSTH was subtracted per bin), and adjacent
    rows inside a trial are more correlated than rows across a trial boundary. The bin width is not stated
    upstream; ``bin_size`` 0.1 s is assumed (the 100 ms bins of Semedo et al. 2019) and flagged in ``meta``.
    """
    variables = _read_mat(_bundled("semedo_v1v2", "sample_data.mat"))
    out = {}
    for key, variable, region in (("V1", "X", "V1"), ("V2", "Y_V2", "V2"), ("V1_heldout", "Y_V1", "V1")):
        matrix = np.asarray(variables[variable], dtype=np.float64)
        out[key] = TrialData(
            counts=matrix.reshape(_SEMEDO_TRIALS, _SEMEDO_BINS, matrix.shape[1]), bin_size=0.1,
            signal="continuous",
            meta=_bundled_meta("semedo_v1v2", subject="macaque (not documented)", session="sample",
                               region=region, population=key,
                               bin_note="bin width not stated upstream; 0.1 s assumed"))
    return out


# ------------------------------------------------------------------------------------------------ spykesml m1/s1
_SPYKES_CITATION = ("Benjamin AS, Fernandes HL, Tomlinson T, Ramkumar P, VerSteeg C, Chowdhury RH, Miller LE, "
                    "Kording KP. Modern machine learning as a benchmark for fitting neural responses. "
                    "Front Comput Neurosci 12:56, 2018.")
_SPYKES_LICENSE = "MIT (github.com/KordingLab/spykesML, (c) 2017 Ari Benjamin)"


def _continuous(counts: np.ndarray, velocity: np.ndarray, window_bins: int | None, step_bins: int | None,
                bin_size: float, meta: dict[str, Any]) -> TrialData:
    if window_bins is None:
        if step_bins is not None:
            raise ValueError("step_bins: only meaningful with window_bins; pass window_bins=<int> as well, "
                             "or leave step_bins=None to get the whole recording as one trial.")
        return TrialData(counts=counts[None], behavior=velocity[None], bin_size=bin_size, meta=meta)
    window_bins = positive_int("window_bins", window_bins)
    return TrialData.from_windows(counts, window_bins, step_bins=step_bins, bin_size=bin_size,
                                  behavior=velocity, meta=meta)


@register(
    "spykesml_m1", kind="real",
    description="Macaque M1 during centre-out reaching (Stevenson et al. 2011 session), continuous 50 ms bins "
                "with hand velocity; no trial or target table.",
    returns="TrialData of consecutive windows (15536 // window_bins, window_bins, 171), behavior = hand "
            "velocity (x, y); window_bins=None returns the whole recording as one trial (1, 15536, 171).",
    citation=_SPYKES_CITATION + " Stevenson IH et al. Statistical assessment of the stability of neural "
                                "movement representations. J Neurophysiol 106(2):764-774, 2011.",
    license=_SPYKES_LICENSE)
def load_spykesml_m1(window_bins: int | None = 20, step_bins: int | None = None) -> TrialData:
    """Continuous M1 recording cut into windows of ``window_bins`` bins (50 ms each).

    Parameters
    ----------
    window_bins : bins per window (trial); None for the whole recording as one trial.
    step_bins : bins between window starts (default ``window_bins``: no overlap).

    Returns
    -------
    TrialData counts (windows, window_bins, 171), behavior (windows, window_bins, 2) = ``handVel`` x, y.
    """
    variables = _read_mat(_bundled("spykesml_m1_s1", "m1_stevenson_2011.mat"))
    counts = np.asarray(variables["spikes"], dtype=np.float32).T  # (time, units)
    velocity = np.asarray(variables["handVel"], dtype=np.float64)[:2].T
    meta = _bundled_meta("spykesml_m1", subject="Miller-lab macaque (Stevenson 2011)", session="m1_stevenson_2011",
                         region="M1", behavior="hand velocity (x, y)")
    return _continuous(counts, velocity, window_bins, step_bins, 0.05, meta)


@register(
    "spykesml_s1", kind="real",
    description="Macaque S1 (area 2) during reaching (Miller lab), continuous bins with hand velocity; the "
                "bin width is not stated upstream (about 50 ms: see meta).",
    returns="TrialData of consecutive windows (35129 // window_bins, window_bins, 52), behavior = hand "
            "velocity (x, y); window_bins=None returns one trial (1, 35129, 52).",
    citation=_SPYKES_CITATION, license=_SPYKES_LICENSE)
def load_spykesml_s1(window_bins: int | None = 20, step_bins: int | None = None) -> TrialData:
    """Continuous S1 recording cut into windows of ``window_bins`` bins.

    The bin width is not stated upstream. ``bin_size`` is 0.05 s: the median ratio of
    ``np.gradient(pos)`` to ``vel`` is 0.049, consistent with 50 ms bins if ``vel`` is per second.

    Returns
    -------
    TrialData counts (windows, window_bins, 52), behavior (windows, window_bins, 2) = ``vel``.
    """
    variables = _read_mat(_bundled("spykesml_m1_s1", "s1_data.mat"))
    counts = np.asarray(variables["spikes"], dtype=np.float32)  # already (time, units)
    velocity = np.asarray(variables["vel"], dtype=np.float64)
    meta = _bundled_meta("spykesml_s1", subject="Miller-lab macaque (not documented)", session="s1_data",
                         region="S1", behavior="hand velocity (x, y)",
                         bin_note="bin width not stated upstream; 0.05 s inferred from gradient(pos) / vel")
    return _continuous(counts, velocity, window_bins, step_bins, 0.05, meta)


# ------------------------------------------------------------------------------------------- golub_bci_learning
@register(
    "golub_bci_learning", kind="real",
    description="Intracortical BCI cursor task (monkey J, 2012-03-05) before and after learning a perturbed "
                "mapping: per target direction, a 'cloud' of 69 time steps of 86-unit spike counts (45 ms). "
                "A cloud pools time steps from several trials: it is a distribution of activity patterns, "
                "not one continuous trial.",
    returns="dict {'before': TrialData, 'after': TrialData}, each (8 clouds, 69 steps, 86 units), labels 0..7 "
            "(cloud angle = 45 * label degrees), behavior = cursor-to-target direction (unit 2-D vector).",
    citation="Golub MD, Sadtler PT, Oby ER, Quick KM, Ryu SI, Tyler-Kabara EC, Batista AP, Chase SM, Yu BM. "
             "Learning by neural reassociation. Nat Neurosci 21:607-616, 2018.",
    license="BSD-3-Clause (github.com/mattgolub/bci_learning)")
def load_golub_bci_learning() -> dict[str, TrialData]:
    """Before- and after-learning activity clouds of the Golub et al. 2018 example experiment.

    Returns
    -------
    dict with ``"before"`` and ``"after"``; each TrialData has counts (8, 69, 86) integer spike counts per
    45 ms step, behavior (8, 69, 2) = ``cursorToTargetDirection`` (the cursor-to-target unit vector, within
    +-22.5 degrees of the cloud's angle), labels (8,) = cloud index, angle ``45 * label`` degrees. The 69 steps
    of a cloud are pooled from several trials (short runs of consecutive steps); use them as samples of a
    distribution, not as one time series.
    """
    variables = _read_mat(_bundled("golub_bci_learning", "exampleData.mat"))
    params = variables["expParams"]
    dt = float(params.intuitiveMapping.dt)
    out = {}
    for key, variable in (("before", "beforeLearning"), ("after", "afterLearning")):
        clouds = variables[variable].clouds
        counts = np.stack([np.asarray(cloud, dtype=np.float32).T for cloud in clouds.spikes])
        direction = np.stack([np.asarray(cloud, dtype=np.float64).T for cloud in clouds.cursorToTargetDirection])
        angles = [int(angle) for angle in np.atleast_1d(clouds.angles)]
        out[key] = TrialData(
            counts=counts, behavior=direction, labels=np.arange(len(angles)), bin_size=dt,
            meta=_bundled_meta("golub_bci_learning", subject=f"monkey {str(params.monkName)[0]}",
                               session=str(params.expDate), region="M1", phase=f"{key} learning",
                               angles_deg=angles, behavior="cursor-to-target direction",
                               note="each trial is a cloud of time steps pooled across trials"))
    return out


# --------------------------------------------------------------------------------------- nlb_mc_maze_small_tiny
@register(
    "nlb_mc_maze_small_tiny", kind="real",
    description="80 trials of NLB MC_Maze_Small held-out neurons (monkey J, M1 + PMd maze reaching), split into "
                "even / odd trials. A tiny smoke-test fixture: both halves come from ONE session.",
    returns="[source, target] TrialData (40 trials, 35 bins of 20 ms, 35 neurons), behavior = the per-trial "
            "2-D intent summary repeated over the 35 bins.",
    citation="Pei F, Ye J, Zoltowski D, et al. Neural Latents Benchmark '21: evaluating latent variable models "
             "of neural population activity. NeurIPS Datasets and Benchmarks 2021. Churchland MM et al., "
             "Neural population dynamics during reaching, Nature 487:51-56, 2012.",
    license="MIT (github.com/mohamjad/neurodrift-lab fixture); underlying data CC-BY-4.0 (DANDI 000140)")
def load_nlb_mc_maze_small_tiny() -> list[TrialData]:
    """Even (source) and odd (target) trials of the NLB MC_Maze_Small fixture.

    Returns
    -------
    [source, target]: TrialData counts (40, 35, 35) integer spike counts per 20 ms bin, behavior (40, 35, 2) =
    the per-trial intent summary (normalised, exact definition undocumented), constant within a trial.
    """
    with np.load(_bundled("nlb_mc_maze_small_tiny", "nlb_mc_maze_small_20.npz"), allow_pickle=False) as file:
        arrays = {key: file[key] for key in file.files}
    out = []
    for half in ("source", "target"):
        counts = arrays[f"{half}_neural"]
        intent = np.repeat(arrays[f"{half}_intent"][:, None, :], counts.shape[1], axis=1)
        bin_size = 1.0 / float(arrays[f"{half}_sample_rate_hz"])
        out.append(TrialData(
            counts=counts, behavior=intent, bin_size=bin_size,
            meta=_bundled_meta("nlb_mc_maze_small_tiny", subject="Jenkins", session=str(arrays[f"{half}_session_id"]),
                               region="M1+PMd", behavior="per-trial 2-D intent summary, constant over time",
                               note="one session split in two (even / odd trials), not a cross-day pair")))
    return out


# ------------------------------------------------------------------------------------------------ liu_pfc8a
LIU_SESSIONS = ("B020917", "B030917", "B040917", "B080917", "B250817", "B290817", "K070217", "K200117", "K310117")


@register(
    "liu_pfc8a", kind="real",
    description="Macaque prefrontal area 8A (Utah arrays), cue-target association task: 9 sessions of 2 monkeys "
                "(B: 6, K: 3), 269-439 trials of 166 bins of 30 ms, 107-165 units per session, not matched across "
                "sessions. No kinematics: the labels (cue 1..4) are the task variable. For multi-session and "
                "cross-subject pretraining and adaptation, and alignment with class labels.",
    returns="list of 9 TrialData (one per session, sorted by monkey then name), labels = cue 0..3 (upstream "
            "1..4 minus 1; the target, 1 or 2, is labels % 2 + 1 in every session), meta subject 'B' / 'K' and "
            "session name; session='B020917' (or a list of names) returns those sessions only.",
    citation="Liu T. et al. (2023), Neural dynamics of movement and cognition "
             "(github.com/TonyTaoLiu/2023-neural-dynamics-of-movement-and-cognition).",
    license="MIT (github.com/TonyTaoLiu/2023-neural-dynamics-of-movement-and-cognition)")
def load_liu_pfc8a(session: str | list[str] | None = None) -> list[TrialData] | TrialData:
    """Sessions of the Liu et al. prefrontal 8A recordings.

    Parameters
    ----------
    session : None for all 9 sessions, one name from ``LIU_SESSIONS`` (returns one TrialData), or a list of names
        (returns a list in that order).

    Returns
    -------
    TrialData with counts (trials, 166, units) = integer spike counts per 30 ms bin, labels (trials,) = cue 0..3,
    ``meta["subject"]`` ("B" or "K"), ``meta["session"]``. The target (1 or 2) is ``labels % 2 + 1`` in every
    session (upstream: 1 for cues 1 and 3, 2 for cues 2 and 4). No behaviour.
    """
    names = LIU_SESSIONS if session is None else [session] if isinstance(session, str) else session
    if not isinstance(names, (list, tuple)) or not names:
        raise TypeError(f"session: expected None, a session name or a non-empty list of names, got "
                        f"{describe(session)}; sessions: {', '.join(LIU_SESSIONS)}.")
    for name in names:
        one_of("session", name, LIU_SESSIONS)
    out = []
    for name in names:
        with np.load(_bundled("liu_pfc8a", f"{name}.npz"), allow_pickle=False) as file:
            spikes, cue = file["spikes"], file["labels_cue"]
        out.append(TrialData(
            counts=spikes.astype(np.float32), labels=cue.astype(np.int64) - 1, bin_size=0.03,
            meta=_bundled_meta("liu_pfc8a", subject=name[0], session=name, region="PFC 8A",
                               labels="cue 1..4 as 0..3; target = labels % 2 + 1",
                               note="no kinematics; task events near bins 53 and 121")))
    return out[0] if isinstance(session, str) else out
