"""tgai.core.measured: the committed benchmark rows that lessons 03 and 05 cite."""

import json

import pytest

from tgai.core import measured


def write(tmp_path, rows):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"runs": [], "rows": rows}))
    return path


def test_rows_of_one_benchmark_by_name(tmp_path):
    path = write(
        tmp_path,
        [
            {"benchmark": "sweep_gan", "name": "full_best_rate", "median": 0.001},
            {"benchmark": "budget_gan", "name": "n100_step250_balanced", "median": 0.6},
        ],
    )
    assert measured.rows("sweep_gan", path) == {
        "full_best_rate": {"benchmark": "sweep_gan", "name": "full_best_rate", "median": 0.001}
    }
    assert measured.rows("seeds_gan", path) == {}
    assert measured.rows("sweep_gan", tmp_path / "absent.json") == {}


def test_the_committed_file_holds_the_rows_the_lessons_read():
    sweep = measured.rows("sweep_gan")
    assert {"full_best_rate", "scratch_best_rate", "lora_r4_best_rate"} <= set(sweep)
    assert measured.rows("seeds_gan") and measured.rows("budget_gan")


def test_a_file_in_another_format_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="git checkout benchmarks/results.json"):
        measured.rows("sweep_gan", path)
    path.write_text("not json")
    with pytest.raises(ValueError, match="not a benchmark results file"):
        measured.rows("sweep_gan", path)
    with pytest.raises(TypeError, match="received 3"):
        measured.rows(3)


@pytest.mark.parametrize(
    ("notes", "label", "expected"),
    [
        ("digits covered 10 vs 9; KID x1000 10 vs 32; batch 32", "KID x1000", (10.0, 32.0)),
        ("digits covered 10 vs 9; KID x1000 10 vs 32; batch 32", "digits covered", (10.0, 9.0)),
        ("KID x1000 10.1; digits covered 10", "KID x1000", (10.1,)),
        ("not reached within 1000 steps: fine-tune 0, scratch 3 of 3 runs", "scratch", (3.0,)),
        ("no ratio: fine-tuning never got there; not reached: fine-tune 3, scratch 3", "fine-tune", (3.0,)),
    ],
)
def test_note_numbers(notes, label, expected):
    assert measured.note_numbers({"name": "row", "notes": notes}, label) == expected


def test_a_label_without_a_number_names_the_row_and_the_label():
    with pytest.raises(ValueError, match=r"row 'n10'.*label='KID x1000'"):
        measured.note_numbers({"name": "n10", "notes": "digits covered 10"}, "KID x1000")


def test_claim_table_shows_each_quantitys_range_over_seeds_and_names_the_broken_ones(tmp_path):
    def row(name, samples, goal, met):
        return {
            "benchmark": "seeds_lessons", "name": name, "unit": "", "repeats": len(samples), "samples": samples,
            "min": min(samples), "median": sorted(samples)[len(samples) // 2], "max": max(samples), "goal": goal,
            "goal_met": met,
        }  # fmt: skip

    path = write(
        tmp_path,
        [
            row("00 KID shift ratio", [30.0, 250.0, 300.0], "> 20", True),
            row("00 judge on real digits", [0.8, 0.9, 0.95], "> 0.85", False),
            row("01 something else", [1.0], "> 0", True),
        ],
    )
    table, broken = measured.claim_table("seeds_lessons", prefix="00 ", results_file=path)
    lines = table.splitlines()
    assert lines[0].split() == ["quantity", "lowest", "median", "highest", "claim", "seeds"]
    assert lines[1].startswith("KID shift ratio") and lines[1].split()[-4:] == ["300", ">", "20", "3"]
    assert len(lines) == 3 and broken == ["judge on real digits"]
    table, broken = measured.claim_table("seeds_lessons", prefix="02 ", results_file=path)
    assert "run `python benchmarks/run.py --only seeds_lessons`" in table and broken == []
    with pytest.raises(TypeError, match="prefix must be a string"):
        measured.claim_table("seeds_lessons", prefix=0, results_file=path)


def test_every_seed_the_lessons_were_run_with_met_every_claimed_bound():
    # Lessons 00 and 01 print this table; a committed seeds_lessons run that broke a claim must fail here.
    for prefix in ("00 ", "01 "):
        table, broken = measured.claim_table("seeds_lessons", prefix=prefix)
        assert "seeds_lessons rows" not in table, "benchmarks/results.json should hold the seeds_lessons rows"
        assert broken == [], f"lesson {prefix.strip()}: a seed broke {broken}"
