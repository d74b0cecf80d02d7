"""Tests for neuralign.data.io (npz, HDF5) and neuralign.data.nwb (NWB)."""

from __future__ import annotations

import json
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from neuralign.data import TrialData
from neuralign.data import io
from neuralign.data.io import load, read_nwb, save, write_nwb

def make_data(seed: int = 0, *, trials: int = 6, time: int = 12, units: int = 4, ragged: bool = False,
              meta: dict | None = None) -> TrialData:
    rng = np.random.default_rng(seed)
    return TrialData(
        counts=rng.poisson(1.5, size=(trials, time, units)),
        behavior=rng.normal(size=(trials, time, 2)),
        labels=rng.integers(0, 3, size=trials),
        lengths=rng.integers(time // 2, time + 1, size=trials) if ragged else None,
        latents=rng.normal(size=(trials, time, 3)),
        bin_size=0.025,
        unit_names=[f"unit{u}" for u in range(units)],
        meta={"subject": "M", "session": f"day{seed}", "region": "M1", "nested": {"a": [1, 2.5, None]}},
    ) if meta is None else TrialData(rng.poisson(1.0, size=(trials, time, units)), meta=meta)


def assert_same(a: TrialData, b: TrialData) -> None:
    for name in ("counts", "behavior", "labels", "lengths", "latents"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            assert left.dtype == right.dtype, name
            np.testing.assert_array_equal(left, right, err_msg=name)
    assert a.bin_size == b.bin_size
    assert a.unit_names == b.unit_names
    assert a.meta == b.meta
    assert a.signal == b.signal


def files_in(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# ----------------------------------------------------------------------------------------- npz / h5 round trips
@pytest.mark.parametrize("suffix", [".npz", ".h5", ".hdf5"])
def test_round_trip_single(tmp_path, suffix):
    data = make_data(ragged=True)
    path = tmp_path / f"data{suffix}"
    assert save(data, path) == path
    assert_same(load(path), data)
    assert files_in(tmp_path) == [path.name]


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_round_trip_minimal_and_continuous(tmp_path, suffix):
    data = TrialData(np.random.default_rng(1).normal(size=(3, 5, 2)), signal="continuous", bin_size=0.01)
    save(data, tmp_path / f"x{suffix}")
    back = load(tmp_path / f"x{suffix}")
    assert_same(back, data)
    assert back.behavior is None and back.unit_names is None and back.meta == {}


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_round_trip_list_and_dict(tmp_path, suffix):
    sessions = [make_data(0), make_data(1, units=7, ragged=True), TrialData(np.ones((2, 3, 1)))]
    save(sessions, tmp_path / f"sessions{suffix}")
    back = load(tmp_path / f"sessions{suffix}")
    assert isinstance(back, list) and len(back) == 3
    for left, right in zip(back, sessions):
        assert_same(left, right)

    regions = {"M1": make_data(2), "PMd/deep": make_data(3, units=2), "": make_data(4)}
    save(regions, tmp_path / f"regions{suffix}")
    back = load(tmp_path / f"regions{suffix}")
    assert isinstance(back, dict) and list(back) == list(regions)
    for name in regions:
        assert_same(back[name], regions[name])


def test_format_argument_overrides_suffix(tmp_path):
    data = make_data()
    save(data, tmp_path / "data.bin", format="hdf5")
    assert_same(load(tmp_path / "data.bin", format="h5"), data)
    with pytest.raises(ValueError, match="is not a 'neuralign.trialdata' file|cannot read"):
        load(tmp_path / "data.bin", format="npz")


def test_npz_loads_without_pickle(tmp_path):
    path = tmp_path / "data.npz"
    save(make_data(), path)
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(str(archive["__neuralign__"]))
    assert header["format"] == "neuralign.trialdata" and header["format_version"] == io.FORMAT_VERSION


# ------------------------------------------------------------------------------------------------- atomicity
@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_unserialisable_meta_leaves_existing_file(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    save(make_data(0), path)
    before = path.read_bytes()
    bad = [make_data(1), make_data(2, meta={"when": datetime.now()})]
    with pytest.raises(ValueError, match="meta: expected JSON-serialisable"):
        save(bad, path)
    assert path.read_bytes() == before
    assert files_in(tmp_path) == [path.name]
    with pytest.raises(ValueError, match="meta: keys must be strings"):
        save(make_data(3, meta={1: "a"}), path)
    assert files_in(tmp_path) == [path.name]


def test_failure_mid_write_removes_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "data.npz"
    save(make_data(0), path)
    before = path.read_bytes()

    def broken_savez(stream, **arrays):
        stream.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save(make_data(1), path)
    assert path.read_bytes() == before
    assert files_in(tmp_path) == [path.name]


def test_save_to_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(make_data(), tmp_path / "nope" / "data.npz")


# ------------------------------------------------------------------------------------------------ bad inputs
def test_save_rejects_bad_data(tmp_path):
    with pytest.raises(TypeError, match="data: expected a TrialData"):
        save(np.zeros((2, 3, 4)), tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"data\[1\]: expected a neuralign TrialData"):
        save([make_data(), "nope"], tmp_path / "x.npz")
    with pytest.raises(TypeError, match="dict keys must be strings"):
        save({1: make_data()}, tmp_path / "x.h5")
    with pytest.raises(ValueError, match="at least one TrialData"):
        save([], tmp_path / "x.npz")
    with pytest.raises(TypeError, match="NWB holds one TrialData"):
        save([make_data()], tmp_path / "x.nwb")
    with pytest.raises(TypeError, match="path: expected a str or os.PathLike"):
        save(make_data(), 3)
    assert files_in(tmp_path) == []


def test_unknown_suffix_and_format(tmp_path):
    with pytest.raises(ValueError, match=r"path: cannot infer the file format .*'\.mat'"):
        save(make_data(), tmp_path / "x.mat")
    with pytest.raises(ValueError, match=r"path: cannot infer the file format"):
        load(tmp_path / "x.csv")
    with pytest.raises(ValueError, match="format: expected one of"):
        save(make_data(), tmp_path / "x.npz", format="pickle")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: no such file .*missing.npz"):
        load(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="path: no such file"):
        read_nwb(tmp_path / "missing.nwb", bin_size=0.01, window=(0, 1))


def test_plain_npz_is_read_as_plain_arrays_with_a_note(tmp_path):
    from neuralign._checks import Note

    path = tmp_path / "plain.npz"
    counts = np.random.default_rng(0).poisson(1.0, (4, 3, 2)).astype(float)
    np.savez(path, counts=counts, behavior=np.ones((4, 3, 1)), labels=np.arange(4), bin_size=0.05, extra=np.ones(2))
    with pytest.warns(Note, match=r"plain.npz.*read as plain arrays \(counts, behavior, labels, bin_size; "
                                  r"ignored \['extra'\]\)"):
        data = load(path)
    assert np.array_equal(data.counts, counts) and data.bin_size == 0.05 and data.behavior.shape == (4, 3, 1)
    assert np.array_equal(data.labels, np.arange(4))
    np.savez(path, counts=counts[0])  # (time, units): one trial, default bin size, said so
    with pytest.warns(Note, match="bin_size 0.02 s assumed; counts \\(time, units\\) as one trial"):
        assert load(path).counts.shape == (1, 3, 2)
    np.savez(path, spikes=counts)
    with pytest.raises(ValueError, match=r"plain.npz.*no 'counts' array to read as plain arrays; found keys "
                                         r"\['spikes'\].*numpy.savez\(path, counts="):
        load(path)
    np.savez(path, counts=counts, behavior=np.ones((5, 3, 1)))
    with pytest.raises(ValueError, match="plain.npz' read as plain arrays: behavior"):
        load(path)


def test_plain_h5_and_nwb_as_h5(tmp_path):
    import h5py

    from neuralign._checks import Note

    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as file:
        file["counts"] = np.zeros(3)
    with pytest.raises(ValueError, match="plain.h5' read as plain arrays: counts: expected 3 dimensions"):
        load(path)
    with h5py.File(path, "w") as file:
        file["counts"] = np.zeros((2, 3, 4))
        file["bin_size"] = 0.1
    with pytest.warns(Note, match="plain.h5.*no 'neuralign' format marker: read as plain arrays"):
        data = load(path)
    assert data.counts.shape == (2, 3, 4) and data.bin_size == 0.1
    nwb_path = tmp_path / "rec.nwb"
    write_nwb(make_data(), nwb_path)
    with pytest.raises(ValueError, match="looks like an NWB file: pass format='nwb'"):
        load(nwb_path, format="h5")


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_empty_truncated_and_foreign_files_say_which(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    save(make_data(), path)
    raw = path.read_bytes()
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"path: cannot read .* it is empty \(0 bytes\)"):
        load(path)
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load(path)
    path.write_text("counts,behavior\n1,2\n")
    with pytest.raises(ValueError, match="it is not (a zip archive|an HDF5 file) but text starting 'counts,b'") \
            as error:
        load(path)
    assert "pickle" not in str(error.value)
    np.save(tmp_path / "array.npy", np.zeros(3))
    path.write_bytes((tmp_path / "array.npy").read_bytes())
    with pytest.raises(ValueError, match=r"but a single NumPy array \(.npy\)"):
        load(path)


def test_object_arrays_are_refused_without_pickle_advice(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, counts=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="arrays of Python objects, which neuralign does not load") as error:
        load(path)
    assert "allow_pickle" not in str(error.value)


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".nwb"])
def test_text_file_renamed(tmp_path, suffix):
    path = tmp_path / f"notes{suffix}"
    path.write_text("just some text\n")
    kwargs = {"bin_size": 0.01, "window": (0, 1)} if suffix == ".nwb" else {}
    with pytest.raises(ValueError, match=f"path: cannot read .*notes{suffix}"):
        load(path, **kwargs)


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_truncated_file(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    save(make_data(), path)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match=f"path: cannot read .*data{suffix}"):
        load(path)


def test_future_version_npz_and_h5(tmp_path):
    import h5py

    header = json.dumps({"format": "neuralign.trialdata", "format_version": 99, "kind": "single", "n_items": 1})
    path = tmp_path / "future.npz"
    with open(path, "wb") as stream:
        np.savez(stream, __neuralign__=np.array(header))
    with pytest.raises(ValueError, match="future.npz.*format version 99, newer .*upgrade neuralign"):
        load(path)
    h5_path = tmp_path / "future.h5"
    save(make_data(), h5_path)
    with h5py.File(h5_path, "r+") as file:
        file.attrs["neuralign"] = header
    with pytest.raises(ValueError, match="future.h5.*format version 99"):
        load(h5_path)


def test_corrupt_item_in_valid_archive(tmp_path):
    path = tmp_path / "data.npz"
    save(make_data(), path)
    with np.load(path) as archive:
        contents = {key: archive[key] for key in archive.files if key != "0/attributes"}
    with open(path, "wb") as stream:
        np.savez(stream, **contents)
    with pytest.raises(ValueError, match="corrupt: item 0"):
        load(path)


def test_nwb_options_only_for_nwb(tmp_path):
    save(make_data(), tmp_path / "x.npz")
    with pytest.raises(TypeError, match="apply to NWB files only"):
        load(tmp_path / "x.npz", bin_size=0.02)


# ------------------------------------------------------------------------------------------------------- NWB
def build_nwb(path: Path) -> dict:
    """A hand-built NWB file: 3 units, 3 trials with a go_time column and string labels, velocity at 100 Hz."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    nwbfile = NWBFile(session_description="hand built", identifier="hand-1",
                      session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc), session_id="s1")
    nwbfile.add_trial_column(name="go_time", description="go cue")
    nwbfile.add_trial_column(name="direction", description="reach direction")
    go_times = [1.0, 3.0, 5.5]
    for start, go, direction in zip([0.5, 2.5, 5.0], go_times, ["left", "right", "left"]):
        nwbfile.add_trial(start_time=start, stop_time=start + 1.5, go_time=go, direction=direction)
    nwbfile.add_unit_column(name="unit_name", description="name")
    spikes = {"a": [0.91, 1.02, 1.03, 1.15, 3.05, 5.49, 5.51, 7.0],
              "b": [0.2, 2.95, 3.12, 3.19],
              "c": []}
    for name, times in spikes.items():
        nwbfile.add_unit(spike_times=times, unit_name=name)
    rate, start = 100.0, 0.0
    t = start + np.arange(800) / rate
    velocity = np.stack([np.sin(t), 2 * t], axis=1)
    nwbfile.add_acquisition(TimeSeries(name="raw_other", data=np.zeros(10), unit="V", rate=10.0))
    module = nwbfile.create_processing_module(name="behavior", description="behaviour")
    module.add(TimeSeries(name="hand_vel", data=velocity, unit="m/s", rate=rate, starting_time=start))
    with NWBHDF5IO(str(path), "w") as nwb_io:
        nwb_io.write(nwbfile)
    return {"go_times": go_times, "spikes": spikes, "velocity": lambda x: np.stack([np.sin(x), 2 * x], -1)}


def test_read_nwb_matches_hand_count(tmp_path):
    path = tmp_path / "hand.nwb"
    truth = build_nwb(path)
    bin_size, before, after = 0.1, 0.1, 0.2
    data = read_nwb(path, bin_size=bin_size, window=(before, after), event="go_time", behavior="hand_vel",
                    label_column="direction")
    assert data.counts.shape == (3, 3, 3)
    expected = np.zeros((3, 3, 3))
    for trial, go in enumerate(truth["go_times"]):
        for unit, times in enumerate(truth["spikes"].values()):
            for time in times:
                offset = time - (go - before)
                if 0 <= offset < before + after:
                    expected[trial, int(offset // bin_size), unit] += 1
    np.testing.assert_array_equal(data.counts, expected)
    assert expected.sum() == 10  # the hand count itself: spikes outside every window (0.2, 7.0) excluded
    assert data.unit_names == ["a", "b", "c"]
    np.testing.assert_array_equal(data.labels, [0, 1, 0])
    assert data.meta["label_names"] == ["left", "right"]
    assert data.meta["session"] == "s1" and data.meta["behavior_series"] == "hand_vel"
    centres = np.array(truth["go_times"])[:, None] - before + (np.arange(3) + 0.5) * bin_size
    np.testing.assert_allclose(data.behavior, truth["velocity"](centres), atol=1e-4)
    # behavior=None takes the first series, from the "behavior" module; units selects and orders units
    default = read_nwb(path, bin_size=bin_size, window=(before, after), event="go_time", units=["c", 0])
    assert default.meta["behavior_series"] == "hand_vel" and default.unit_names == ["c", "a"]
    np.testing.assert_array_equal(default.counts, expected[:, :, [2, 0]])
    assert read_nwb(path, bin_size=bin_size, window=(before, after), behavior=False).behavior is None


def test_read_nwb_windows_match_a_histogram_of_spike_times(tmp_path):
    """Spike times off the bin grid, events off the grid: each trial's counts are np.histogram of the spike
    times over [t - before, t + after) cut into bins."""
    from pynwb import NWBHDF5IO, NWBFile

    rng = np.random.default_rng(1)
    spikes = [np.sort(rng.uniform(0, 12, size)) for size in (200, 90, 5)]
    events = np.array([0.7, 3.333, 6.01, 9.9])
    nwbfile = NWBFile(session_description="histogram", identifier="hist-1",
                      session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwbfile.add_trial_column(name="cue", description="cue time")
    for event in events:
        nwbfile.add_trial(start_time=event - 0.5, stop_time=event + 1.0, cue=event)
    for times in spikes:
        nwbfile.add_unit(spike_times=times)
    path = tmp_path / "hist.nwb"
    with NWBHDF5IO(str(path), "w") as nwb_io:
        nwb_io.write(nwbfile)
    bin_size, before, after = 0.04, 0.3, 0.5
    data = read_nwb(path, bin_size=bin_size, window=(before, after), event="cue")
    assert data.counts.shape == (4, 20, 3)
    for trial, event in enumerate(events):
        edges = event - before + np.arange(21) * bin_size
        expected = np.stack([np.histogram(times, edges)[0] for times in spikes], axis=1)
        np.testing.assert_array_equal(data.counts[trial], expected)


@pytest.mark.parametrize("ragged", [False, True])
def test_write_read_nwb_round_trip(tmp_path, ragged):
    data = make_data(5, trials=5, time=10, units=3, ragged=ragged)
    data.counts[0, 0, 0] = 7  # several spikes in one bin
    path = tmp_path / "export.nwb"
    write_nwb(data, path, identifier="export-1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if ragged else "error", UserWarning)  # ragged: last trial's padding
        back = load(path, bin_size=data.bin_size, window=(0, data.n_time * data.bin_size), label_column="label")
    assert files_in(tmp_path) == ["export.nwb"]
    mask = data.mask
    np.testing.assert_array_equal(back.counts, data.counts * mask[:, :, None])
    np.testing.assert_array_equal(back.behavior[mask], data.behavior[mask])
    np.testing.assert_array_equal(back.labels, data.labels)
    assert back.unit_names == data.unit_names and back.bin_size == data.bin_size
    assert back.meta["identifier"] == "export-1" and back.lengths is None


def test_save_nwb_suffix(tmp_path):
    data = TrialData(np.random.default_rng(0).poisson(2.0, size=(3, 4, 2)), bin_size=0.05)
    save(data, tmp_path / "x.nwb")
    back = load(tmp_path / "x.nwb", bin_size=0.05, window=(0, 0.2))
    np.testing.assert_array_equal(back.counts, data.counts)
    assert back.behavior is None and back.labels is None and back.unit_names == ["0", "1"]


def test_write_nwb_rejects_non_integer_counts(tmp_path):
    path = tmp_path / "x.nwb"
    smooth = make_data().smooth(1.0)
    with pytest.raises(ValueError, match=r"data: NWB stores spike times.*integer-valued.*\.npz or \.h5"):
        write_nwb(smooth, path)
    with pytest.raises(TypeError, match="data: expected a neuralign TrialData"):
        write_nwb(np.zeros((2, 3, 4)), path)
    assert files_in(tmp_path) == []


def test_read_nwb_bad_arguments(tmp_path):
    path = tmp_path / "hand.nwb"
    build_nwb(path)
    with pytest.raises(ValueError, match="bin_size: expected a finite number > 0"):
        read_nwb(path, bin_size=0, window=(0, 1))
    with pytest.raises(TypeError, match="bin_size: expected a number"):
        read_nwb(path, bin_size="10ms", window=(0, 1))
    with pytest.raises(TypeError, match=r"window: expected \(before, after\)"):
        read_nwb(path, bin_size=0.1, window=0.5)
    with pytest.raises(ValueError, match="window: expected before \\+ after to span at least one bin"):
        read_nwb(path, bin_size=0.1, window=(0.01, 0.01))
    with pytest.raises(ValueError, match="window: expected finite"):
        read_nwb(path, bin_size=0.1, window=(0, np.inf))
    with pytest.raises(ValueError, match=r"window: expected \(before, after\).*both >= 0.*Got \(-0.1, 0.3\), which "
                                         r"would read \[t \+ 0.1, t \+ 0.3\).*pass \(0.1, 0.3\)"):
        read_nwb(path, bin_size=0.1, window=(-0.1, 0.3))
    with pytest.raises(ValueError, match=r"event: no column 'cue_time' .*available columns: "
                                         r"\['start_time', 'stop_time', 'go_time', 'direction'\]"):
        read_nwb(path, bin_size=0.1, window=(0, 1), event="cue_time")
    with pytest.raises(ValueError, match="label_column: no column 'dir'"):
        read_nwb(path, bin_size=0.1, window=(0, 1), label_column="dir")
    with pytest.raises(ValueError, match=r"behavior: no TimeSeries named 'pos' .*available series: "
                                         r"\['processing/behavior/hand_vel', 'acquisition/raw_other'\]"):
        read_nwb(path, bin_size=0.1, window=(0, 1), behavior="pos")
    with pytest.raises(ValueError, match=r"units: no unit 'zz' .*available unit names: \['a', 'b', 'c'\]"):
        read_nwb(path, bin_size=0.1, window=(0, 1), units=["zz"])
    with pytest.raises(TypeError, match="needs bin_size and window"):
        load(path)
