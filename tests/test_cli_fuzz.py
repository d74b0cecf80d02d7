"""Every command against a table of bad inputs: exit code 2, one ``error:`` line, no traceback, inputs unchanged,
nothing new written. Each bad input must fail before any fitting, so the whole table runs in seconds."""

from __future__ import annotations

import hashlib
import json
import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neuralign.cli import app
from neuralign.data import io
from neuralign.data.datasets import load

runner = CliRunner()

HEADLINE = "# readme\n\n<!-- headline:start -->\n<!-- headline:end -->\n"


def _bench_json(name: str) -> str:
    row = {"method": "m", "setting": "s", "metric": "r2", "mean": 1.0, "std": 0.0, "n": 1, "seconds": 0.1,
           "values": [1.0]}
    return json.dumps({"benchmark": name, "rows": [row], "env": {}})


def _write_wav(path: Path, samples: np.ndarray, rate: int = 250_000) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Valid and broken inputs, and output folders, built once."""
    root = tmp_path_factory.mktemp("fuzz")
    data = load("synthetic_reach", n_trials=12, n_time=6, n_units=5, seed=0)
    io.save(data, root / "data.npz")
    io.save(load("synthetic_reach", n_trials=12, n_time=6, n_units=7, seed=1), root / "other_units.npz")
    from neuralign.models import SeqVAE

    SeqVAE(latent_dim=2, hidden_size=4, read_in_dim=4, max_epochs=1, verbose=False).fit(data).save(root / "model.pt")
    raw = (root / "data.npz").read_bytes()
    (root / "blank.npz").write_bytes(b"")
    (root / "half.npz").write_bytes(raw[: len(raw) // 2])
    (root / "words.npz").write_text("these are not arrays\n")
    (root / "corrupt.pt").write_bytes(b"not a model at all")
    (root / "text.txt").write_text("hello\n")
    (root / "text.wav").write_text("not audio\n")
    _write_wav(root / "rec.wav", np.random.default_rng(0).normal(0, 100, 25_000))
    np.save(root / "a.npy", np.random.default_rng(0).normal(size=(20, 3)))
    np.save(root / "b.npy", np.random.default_rng(1).normal(size=(20, 3)))
    np.save(root / "c4.npy", np.random.default_rng(2).normal(size=(20, 4)))
    np.save(root / "nan.npy", np.full((20, 3), np.nan))
    np.savez(root / "latents.npz", latents=np.zeros((4, 5, 2)))
    np.savez(root / "syllables.npz", images=np.random.default_rng(0).random((6, 8, 8)), onsets=np.arange(6.0),
             offsets=np.arange(6.0) + 0.5)
    io.write_nwb(data, root / "rec.nwb")
    (root / "text.nwb").write_text("not hdf5\n")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "badkey.yaml").write_text("latent_dims: 3\n")
    (root / "broken.yaml").write_text("a: [1, 2\n")
    (root / "out").mkdir()
    foreign = root / "foreign"
    foreign.mkdir()
    (foreign / "summary.md").write_text("# my own notes\n")
    (foreign / "summary.json").write_text('{"mine": 1}\n')
    (foreign / "results.json").write_text('{"mine": 1}\n')
    (root / "prev").mkdir()
    io.save(data, root / "prev" / "aligned.npz")
    for name in ("benchmarks", "nojson", "badjson"):
        (root / name).mkdir()
    (root / "benchmarks" / "vae.json").write_text(_bench_json("vae"))
    (root / "badjson" / "vae.json").write_text('{"rows": 3}')
    (root / "other_bench.json").write_text(_bench_json("mmd"))
    (root / "README.md").write_text(HEADLINE)
    (root / "nomarkers.md").write_text("# no markers here\n")
    return root


# (command line, a fragment of the error line)
CASES = [
    # ------------------------------------------------------------------------------------------------ fit
    ("fit data.npz --out model.npz", "out: expected a .pt file"),
    ("fit data.npz --out out", "out: expected a .pt file for a fitted model, got the folder"),
    ("fit data.npz --out corrupt.pt", "pass --force"),
    ("fit data.npz --out text.txt/m.pt", "is a file, not a folder"),
    ("fit missing.npz --out m.pt", "neither an existing file nor a bundled dataset"),
    ("fit no_such_dataset --out m.pt", "neither an existing file nor a bundled dataset"),
    ("fit blank.npz --out m.pt", "empty"),
    ("fit half.npz --out m.pt", "truncated"),
    ("fit words.npz --out m.pt", "not a zip archive"),
    ("fit text.txt --out m.pt", "cannot infer the file format"),
    ("fit erdiff_miller_co:tomorrow --out m.pt", "has sessions"),
    ("fit data.npz --out m.pt --model gpfa", "model: expected one of"),
    ("fit data.npz --out m.pt --latent-dim 0", "latent_dim"),
    ("fit data.npz --out m.pt --max-epochs -1", "max_epochs"),
    ("fit data.npz --out m.pt --max-epochs many", "--max-epochs"),
    ("fit data.npz --out m.pt --config missing.yaml", "config: no file"),
    ("fit data.npz --out m.pt --config list.yaml", "config: expected a mapping"),
    ("fit data.npz --out m.pt --config badkey.yaml", "latent_dims"),
    ("fit data.npz --out m.pt --config broken.yaml", "not valid YAML"),
    ("fit data.npz --out m.pt --device tpu", "device"),
    ("fit data.npz --out m.pt --seed -1", "seed"),
    ("fit data.npz --out m.pt --no-such-option", "--no-such-option"),
    ("fit --out m.pt", "Missing argument"),
    ("fit rec.nwb --out m.pt", "give bin_size and window (command line: --bin-size"),
    ("fit rec.nwb --out m.pt --bin-size 0.02", "give window"),
    ("fit data.npz --out m.pt --bin-size 0.02", "applies to .nwb inputs only"),
    ("fit rec.nwb --out m.pt --bin-size 0.02 --window 0.1", "window (--window): expected BEFORE,AFTER"),
    ("fit rec.nwb --out m.pt --bin-size -1 --window 0,0.12", "bin_size"),
    ("fit rec.nwb --out m.pt --bin-size 0.02 --window -0.1,0.12", "would read [t + 0.1, t + 0.12)"),
    ("fit rec.nwb --out m.pt --bin-size 0.02 --window 0,0.12 --event go_cue", "event: no column 'go_cue'"),
    ("fit rec.nwb --out m.pt --bin-size 0.02 --window 0,0.12 --behavior speed", "behavior: no TimeSeries"),
    ("fit rec.nwb --out m.pt --bin-size 0.02 --window 0,0.12 --label-column kind", "label_column: no column"),
    ("fit text.nwb --out m.pt --bin-size 0.02 --window 0,0.12", "not an HDF5 file but text"),
    ("encode model.pt rec.nwb --out z.npz", "--bin-size"),
    ("align --source data.npz --target data.npz --out out --window 0,1", "applies to .nwb inputs only"),
    ("compare a.npy b.npy --event start_time", "applies to .nwb inputs only"),
    ("neat --regions semedo_v1v2 --bin-size 0.1 --out out", "applies to .nwb inputs only"),
    # --------------------------------------------------------------------------------------------- encode
    ("encode model.pt data.npz --out data.npz", "is also an input"),
    ("encode model.pt data.npz --out model.pt", "out: expected a .npz file"),
    ("encode model.pt data.npz --out other_units.npz", "pass --force"),
    ("encode corrupt.pt data.npz --out z.npz", "not a readable"),
    ("encode missing.pt data.npz --out z.npz", "missing.pt"),
    ("encode blank.npz data.npz --out z.npz", "empty"),
    ("encode model.pt erdiff_miller_co --out z.npz", "pick one with"),
    ("encode model.pt other_units.npz --out z.npz", "units"),
    ("encode model.pt data.npz --out z.npz --session 5", "session"),
    ("encode model.pt half.npz --out z.npz", "truncated"),
    # ---------------------------------------------------------------------------------------------- align
    ("align --source data.npz --target data.npz --out data.npz", "out: expected a folder"),
    ("align --source data.npz --target data.npz --out out --method magic", "method: expected one of"),
    ("align --source data.npz --target data.npz --out out --calibration zscore", "calibration"),
    ("align --source data.npz --target data.npz --out out --denoise -1", "denoise"),
    ("align --source data.npz --target data.npz --out out --model model.pt --labelled 0", "labelled"),
    ("align --source missing.npz --target data.npz --out out", "missing.npz"),
    ("align --source erdiff_miller_co --target data.npz --out out", "pick one with"),
    ("align --source data.npz --target data.npz --out out --model corrupt.pt", "not a readable"),
    ("align --source data.npz --target data.npz --out text.txt", "out: expected a folder"),
    ("align --source data.npz --target data.npz --out foreign", "pass --force"),
    ("align --source prev/aligned.npz --target data.npz --out prev", "would overwrite the input"),
    ("align --source data.npz --target data.npz --out out --device tpu", "device"),
    ("align --source data.npz --target data.npz --out out --model model.pt", "latent dynamics model"),
    ("align --source data.npz --target words.npz --out out", "not a zip archive"),
    # -------------------------------------------------------------------------------------------- compare
    ("compare a.npy c4.npy", "dims"),
    ("compare missing.npy b.npy", "missing.npy"),
    ("compare latents.npz data.npz --key nope", "key"),
    ("compare a.npy b.npy --kernel magic", "kernel"),
    ("compare a.npy b.npy --permutations 0", "permutations"),
    ("compare a.npy b.npy --out a.npy", "out: expected a folder"),
    ("compare a.npy b.npy --out foreign", "pass --force"),
    ("compare blank.npz b.npy", "empty"),
    ("compare text.txt b.npy", "text.txt"),
    ("compare nan.npy b.npy", "NaN"),
    # ----------------------------------------------------------------------------------------------- neat
    ("neat --regions semedo_v1v2:V1 --out out", "one recording"),
    ("neat --regions semedo_v1v2 --lambdas 0,x --out out", "lambdas"),
    ("neat --regions no_such_data --out out", "neither an existing file nor a bundled dataset"),
    ("neat --regions semedo_v1v2 --latent-dims a,b --out out", "latent_dims"),
    ("neat --regions semedo_v1v2 --out data.npz", "out: expected a folder"),
    ("neat --regions semedo_v1v2 --out foreign", "pass --force"),
    ("neat --regions semedo_v1v2 --max-epochs 0 --out out", "max_epochs"),
    ("neat --regions semedo_v1v2 --latent-dims auto --ev-threshold 1.5 --out out", "ev_threshold"),
    # ---------------------------------------------------------------------------------------------- vocal
    ("vocal segment missing.wav --out s.npz", "missing.wav"),
    ("vocal segment text.wav --out s.npz", "text.wav"),
    ("vocal segment rec.wav --out s.pt", "out: expected a .npz file"),
    ("vocal segment rec.wav --out data.npz", "pass --force"),
    ("vocal segment rec.wav --out s.npz --size 0", "size"),
    ("vocal segment rec.wav --out s.npz --low 90000 --high 30000", "band"),
    ("vocal fit syllables.npz --out v.npz", "out: expected a .pt file"),
    ("vocal fit data.npz --out v.pt", "images"),
    ("vocal fit missing.npz --out v.pt", "missing.npz"),
    ("vocal fit syllables.npz --out v.pt --latent-dim 0", "latent_dim"),
    ("vocal fit blank.npz --out v.pt", "empty"),
    ("vocal compare model.pt syllables.npz --out out", "at least two groups"),
    ("vocal compare corrupt.pt syllables.npz syllables.npz --out out", "not a readable"),
    ("vocal compare model.pt syllables.npz syllables.npz --out out", "not a VocalVAE"),
    ("vocal compare model.pt syllables.npz syllables.npz --out data.npz", "out: expected a folder"),
    ("vocal nope", "No such command"),
    # ----------------------------------------------------------------------------------------------- demo
    ("demo --seed -1 --out out", "seed"),
    ("demo --out text.txt", "out: expected a folder"),
    ("demo --out foreign", "pass --force"),
    ("demo --out text.txt/sub", "is a file, not a folder"),
    ("demo --seed x", "--seed"),
    # ---------------------------------------------------------------------------------------------- bench
    ("bench nope", "unknown benchmark"),
    ("bench vae --seeds 0", "seeds"),
    ("bench vae --seed-set final", "seed_set"),
    ("bench vae --out b.txt", "out: expected a .json file"),
    ("bench vae --out out", "got the folder"),
    ("bench vae --out other_bench.json", "pass --force"),
    ("bench nope --out new.json", "unknown benchmark"),
    # ------------------------------------------------------------------------------------------ snapshots
    ("snapshots fit missing.npz --out snap", "clouds: no file at"),
    ("snapshots fit blank.npz --out snap", "clouds:"),
    ("snapshots fit half.npz --out snap", "clouds:"),
    ("snapshots fit words.npz --out snap", "clouds:"),
    ("snapshots fit data.npz --out snap", "has no 'times' array"),
    ("snapshots fit data.npz --method nope --out snap", "method: expected one of"),
    ("snapshots fit data.npz --out data.npz", "out: expected a folder"),
    # --------------------------------------------------------------------------------------------- render
    ("render --benchmarks missing_dir --docs docs --readme README.md", "benchmarks"),
    ("render --benchmarks nojson --docs docs --readme README.md", "no *.json"),
    ("render --benchmarks badjson --docs docs --readme README.md", "expected a benchmark result"),
    ("render --benchmarks benchmarks --docs docs --readme missing.md", "readme"),
    ("render --benchmarks benchmarks --docs docs --readme nomarkers.md", "headline"),
    ("render --benchmarks benchmarks --docs benchmarks --readme README.md", "would overwrite the input"),
    ("render --benchmarks benchmarks --docs text.txt --readme README.md", "docs: expected a folder"),
    ("render --benchmarks benchmarks --docs . --readme README.md", "would overwrite the input"),
    ("render --benchmarks benchmarks --docs docs --readme benchmarks", "readme"),
]


def _tree(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): (hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir")
            for path in sorted(root.rglob("*"))}


def test_the_table_is_large_and_covers_every_command():
    assert len(CASES) >= 60
    commands = {line.split()[0] for line, _ in CASES}
    assert commands >= {"fit", "encode", "align", "compare", "neat", "vocal", "demo", "bench", "render",
                        "snapshots"}


@pytest.mark.parametrize("line, fragment", CASES, ids=[line for line, _ in CASES])
def test_bad_input(folder, monkeypatch, line, fragment):
    monkeypatch.chdir(folder)  # default output folders (reports/...) would land here, and be seen
    before = _tree(folder)
    result = runner.invoke(app, line.split())
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = output.strip().splitlines()
    errors = [text for text in lines if text.startswith("error:")]
    assert len(errors) == 1, output
    assert all(text.startswith(("error:", "warning:", "note:")) for text in lines), output
    assert fragment in errors[0], output
    assert _tree(folder) == before  # inputs unchanged, nothing new, no temporary file left
