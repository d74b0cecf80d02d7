"""Benchmark pages and the README's headline block, rendered from the benchmark JSONs (``neuralign render``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuralign.bench import Row
from neuralign.bench import render
from neuralign.cli import app

REPOSITORY = Path(__file__).resolve().parents[2]
RIGHT = "right-map rate (R2 >= 75 %)"
runner = CliRunner()


def _row(method: str, setting: str, metric: str, values: list[float], seconds: float = 2.0) -> dict:
    return {**Row.from_values(method, setting, metric, values, seconds).__dict__}


def _result(rows: list[dict], **extra) -> dict:
    return {"benchmark": "fake", "quick": False, **extra, "rows": rows,
            "env": {"date": "2026-12-01 10:00:00", "cpu_count": 2, "torch": "2.13.0+cpu", "cuda": None}}


def _aligner(method: str, setting: str, margins: list[float], r2: list[float]) -> list[dict]:
    return [_row(method, setting, "velocity R2 %", r2), _row(method, setting, RIGHT, [float(v >= 75) for v in r2]),
            _row(method, setting, "margin", margins),
            _row(method, setting, "runner-up is a mirror", [1.0] * len(margins))]


def _cells(text: str, first: str, second: str = "") -> list[str]:
    """The cells of the table line that starts with cells ``first`` and ``second``."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if cells[:2] == [first, second] or (not second and cells[0] == first):
            return cells
    raise AssertionError(f"no line starting with {first!r}, {second!r} in\n{text}")


def _repository_copy(tmp_path: Path, rows: list[dict] | None = None) -> tuple[Path, Path, Path]:
    benchmarks, docs, readme = tmp_path / "benchmarks", tmp_path / "docs" / "benchmarks", tmp_path / "README.md"
    benchmarks.mkdir()
    rows = rows or [_row("SeqVAE", "monkey source, held-out 25 %", "velocity R2 %", [93.07, 94.36, 92.07])]
    (benchmarks / "vae.json").write_text(json.dumps(_result(rows)))
    readme.write_text(f"# x\n\n## Headline results\n\n{render.HEADLINE_START}\nold\n{render.HEADLINE_END}\n\nrest\n")
    return benchmarks, docs, readme


@pytest.mark.parametrize("value, text", [(92.65567, "92.7"), (7.2831, "7.28"), (0.94321, "0.943"),
                                         (0.048, "0.0480"), (658.2, "658"), (5.0, "5"), (-0.0, "0"), (1e6, "1e+06"),
                                         (0.000999, "0.000999"), (-246.169, "-246"), (float("nan"), "nan")])
def test_numbers_are_formatted_by_magnitude(value, text):
    assert render.format_number(value) == text


def test_markdown_table_formats_rows_and_their_runs():
    rows = [Row.from_values("SeqVAE", "monkey | source", "velocity R2 %", [93.0737, 94.3596, 92.0722], 12.43),
            _row("hyppo", "n=1000", "seconds per test", [658.2], 658.2)]
    table = render.markdown_table(rows).splitlines()
    assert table[0] == "| method | setting | metric | mean ± std | n | per-run values | s/run |"
    assert table[1] == "| --- | --- | --- | ---: | ---: | --- | ---: |"
    # the row's std is the sample standard deviation (ddof = 1) of the three runs
    assert table[2] == "| SeqVAE | monkey \\| source | velocity R2 % | 93.2 ± 1.1 | 3 | 93.1 94.4 92.1 | 12.4 |"
    assert table[3] == "| hyppo | n=1000 | seconds per test | 658 | 1 | 658 | 658 |"  # one run: no std
    short = render.markdown_table(rows, columns=("metric", "n")).splitlines()
    assert short[:3] == ["| metric | n |", "| --- | ---: |", "| velocity R2 % | 3 |"]


def test_long_runs_are_summarised():
    assert render.format_values([0.0] * 476 + [1.0] * 24) == "476 × 0, 24 × 1"
    text = render.format_values([float(v) + 0.5 for v in range(30)])
    assert text.startswith("0.500 1.50 2.50") and text.endswith("19.5 … (30 values)")
    assert render.format_values([1.25] * 20) == " ".join(["1.25"] * 20)


def test_margin_section_counts_right_and_wrong_runs_by_margin():
    rows = [*_aligner("A", "pair", [0.5, 1.5, 2.5, 3.5, 0.2, 1e6], [80.0, -50.0, 85.0, 90.0, 10.0, 86.0]),
            *_aligner("B", "pair", [1.2, 2.2], [-80.0, 81.0]),
            # repeats A's first two runs: the pooled row counts them once
            *_aligner("A, more seeds", "pair", [0.5, 1.5, 0.9], [80.0, -50.0, 77.0]),
            _row("C (labels)", "pair", "velocity R2 %", [88.0, 87.0])]  # no margins: not in the section
    rows += [_row("D", "pair", "margin", [1.0, 2.0]), _row("D", "pair", "velocity R2 %", [80.0])]  # n differs
    section = render.margin_section(_result(rows))
    assert section.startswith("## Margin against outcome") and "velocity R2 is >= 75 %" in section
    by_bin, by_threshold = section.split("On either side of a threshold:")
    assert _cells(by_bin, "method")[2:] == ["all runs", "< 1", "1-2", "2-3", ">= 3"]
    assert _cells(by_bin, "A", "pair")[2:] == ["4/6", "1/2", "0/1", "1/1", "2/2"]
    assert _cells(by_bin, "B", "pair")[2:] == ["1/2", "-", "0/1", "1/1", "-"]
    assert _cells(by_bin, "**all, pooled**")[2:] == ["6/9", "2/3", "0/2", "2/2", "2/2"]
    assert _cells(by_threshold, "method")[2:] == ["margin >= 1", "margin < 1", "margin >= 2", "margin < 2",
                                                  "margin >= 3", "margin < 3"]
    assert _cells(by_threshold, "A", "pair")[2:] == ["3/4", "1/2", "3/3", "1/3", "2/2", "2/4"]
    assert _cells(by_threshold, "**all, pooled**")[2:] == ["4/6", "2/3", "4/4", "2/5", "2/2", "4/7"]
    assert "C (labels)" not in section and "| D |" not in section
    assert render.margin_section(_result([_row("A", "pair", "velocity R2 %", [1.0])])) == ""


def test_margin_threshold_comes_from_the_right_map_rows():
    rows = [_row("A", "s", "velocity R2 %", [70.0, 50.0]), _row("A", "s", "right-map rate (R2 >= 60 %)", [1.0, 0.0]),
            _row("A", "s", "margin", [2.5, 0.5])]
    section = render.margin_section(_result(rows))
    assert "velocity R2 is >= 60 %" in section and _cells(section, "A", "s")[2:4] == ["1/2", "0/1"]


def test_page_groups_rows_by_setting_in_json_order():
    rows = [_row("m1", "first", "velocity R2 %", [1.0, 2.0]), _row("m1", "second", "velocity R2 %", [3.0, 4.0]),
            _row("m2", "first", "fit seconds", [5.0, 6.0]), *_aligner("m3", "second", [0.5, 2.5], [80.0, 10.0])]
    page = render.render_page(_result(rows, seed_set="reporting"))
    assert page.startswith("# Benchmark `fake`")
    assert "`neuralign bench fake --seed-set reporting --out benchmarks/fake.json`" in page
    assert "Seed set: reporting (seeds 100, 101, ...)" in page and "Quick run: no" in page
    assert "date 2026-12-01 10:00:00" in page and "cuda none" in page
    first, second = page.index("## first"), page.index("## second")
    assert first < page.index("| m1 | velocity R2 %") < page.index("| m2 | fit seconds") < second
    assert second < page.index("| m1 | velocity R2 % | 3.50") < page.index("| m3 | margin")
    assert page.index("## Margin against outcome") > page.index("| m3 | runner-up is a mirror")
    without = render.render_page(_result(rows[:3], quick=True))
    assert "## Margin" not in without and "Quick run: yes" in without and "--quick --out" in without
    scripted = render.render_page({**_result(rows[:3]), "command": "python scripts/sweep_lfads.py out.json"})
    assert "Written by `python scripts/sweep_lfads.py out.json`" in scripted and "neuralign bench" not in scripted


def test_headline_keeps_the_selected_rows_and_skips_missing_ones(tmp_path):
    benchmarks, _, _ = _repository_copy(tmp_path)
    spec = [render.HeadlineEntry("vae", "SeqVAE", "monkey source", "velocity R2 %"),
            render.HeadlineEntry("vae", "SeqVAE", "monkey source", "no such metric"),
            render.HeadlineEntry("align", "dynamics (default)", "pair", "velocity R2 %")]  # no align.json
    block = render.render_headline(spec, benchmarks)
    assert block.splitlines()[2] == ("| [vae](docs/benchmarks/vae.md) | SeqVAE | monkey source, held-out 25 % | "
                                     "velocity R2 % | 93.2 ± 1.1 (3) |")
    assert len(block.splitlines()) == 3
    assert render.render_headline(spec[1:], benchmarks).startswith("No headline rows")
    with pytest.raises(TypeError, match="spec: expected"):
        render.render_headline([("vae", "SeqVAE")], benchmarks)


def test_readme_block_is_replaced_between_the_markers(tmp_path):
    benchmarks, docs, readme = _repository_copy(tmp_path)
    assert render.update_readme(readme, benchmarks, docs_dir=docs) is True
    text = readme.read_text()
    assert "old" not in text and text.endswith(f"{render.HEADLINE_END}\n\nrest\n")
    assert text.index(render.HEADLINE_START) < text.index("| [vae](docs/benchmarks/vae.md)")
    assert render.update_readme(readme, benchmarks, docs_dir=docs) is False  # idempotent
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match=f"readme: '{readme}' needs the lines <!-- headline:start -->"):
        render.update_readme(readme, benchmarks, docs_dir=docs)
    assert readme.read_text() == "# no markers\n"
    with pytest.raises(ValueError, match="readme: no file"):
        render.update_readme(tmp_path / "missing.md", benchmarks)


def test_check_lists_stale_pages_and_render_fixes_them(tmp_path):
    benchmarks, docs, readme = _repository_copy(tmp_path)
    options = ["--benchmarks", str(benchmarks), "--docs", str(docs), "--readme", str(readme)]
    result = runner.invoke(app, ["render", *options, "--check"])
    assert result.exit_code == 1 and f"stale: {docs / 'vae.md'}" in result.output and not docs.exists()
    assert runner.invoke(app, ["render", *options]).exit_code == 0
    page = (docs / "vae.md").read_text()
    assert page.startswith(render.GENERATED) and "[benchmarks/vae.json](../../benchmarks/vae.json)" in page
    assert "[vae](vae.md)" in (docs / "README.md").read_text()
    result = runner.invoke(app, ["render", *options, "--check"])
    assert result.exit_code == 0 and "up to date" in result.output
    (docs / "vae.md").write_text(page.replace("93.2", "99.9"))  # a figure typed by hand
    (docs / "gone.md").write_text(page)  # a generated page whose JSON is gone
    result = runner.invoke(app, ["render", *options, "--check"])
    assert result.exit_code == 1 and "vae.md" in result.output and "gone.md" in result.output
    assert (docs / "vae.md").read_text() != page  # --check writes nothing
    assert runner.invoke(app, ["render", *options]).exit_code == 0
    assert (docs / "vae.md").read_text() == page and not (docs / "gone.md").exists()


def test_bad_inputs_name_the_argument(tmp_path):
    benchmarks, docs, readme = _repository_copy(tmp_path)
    result = runner.invoke(app, ["render", "--benchmarks", str(tmp_path / "nowhere"), "--docs", str(docs),
                                 "--readme", str(readme)])
    assert result.exit_code == 2 and "benchmarks: no folder" in result.output
    (benchmarks / "broken.json").write_text("{not json")
    result = runner.invoke(app, ["render", "--benchmarks", str(benchmarks), "--docs", str(docs),
                                 "--readme", str(readme)])
    assert result.exit_code == 2 and "broken.json" in result.output and "not valid JSON" in result.output
    assert not docs.exists()  # nothing written
    (benchmarks / "broken.json").write_text(json.dumps(_result([{"method": "m", "setting": "s", "metric": "x"}])))
    with pytest.raises(ValueError, match=r"benchmarks: '.*broken.json': row 0 \('m'\) has mean=None"):
        render.docs_pages(benchmarks, docs)
    (benchmarks / "broken.json").unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="benchmarks: no \\*.json files"):
        render.render_docs(empty, docs)
    with pytest.raises(ValueError, match="result: expected a benchmark result"):
        render.render_page({"rows": []})
    with pytest.raises(ValueError, match="result: row 0 .* values="):
        render.render_page(_result([{**_row("m", "s", "x", [1.0]), "values": ["a"]}]))
    with pytest.raises(ValueError, match="columns: expected one of"):
        render.markdown_table([], columns=("method", "median"))
    with pytest.raises(TypeError, match="columns: expected a tuple"):
        render.markdown_table([], columns="method")
    with pytest.raises(ValueError, match=r"rows: row 0 \('m'\) has n='5'"):
        render.markdown_table([{**_row("m", "s", "x", [1.0]), "n": "5"}])
    result = runner.invoke(app, ["render", "--benchmarks", str(benchmarks), "--docs", str(docs),
                                 "--readme", str(tmp_path / "nope.md")])
    assert result.exit_code == 2 and "readme: no file" in result.output


def test_committed_pages_and_readme_headline_match_the_committed_json():
    """What keeps the figures in the README and docs honest: rerun `neuralign render` after a benchmark."""
    stale = render.stale_files(REPOSITORY / "benchmarks", REPOSITORY / "docs" / "benchmarks",
                               REPOSITORY / "README.md")
    assert stale == [], f"run `neuralign render`: {[str(path) for path in stale]} differ from benchmarks/*.json"
