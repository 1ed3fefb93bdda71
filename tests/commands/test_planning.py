"""Input → output planning (`medenoise.planning`): which files, from which folder, written where,
and every refusal made before anything is written."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from medenoise.errors import UserError
from medenoise.planning import Job, find_images, plan_jobs


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    return path


@pytest.fixture()
def tree(tmp_path):
    """in/{b.png, a.png, sub/c.png, notes.txt} and a loose file x.png."""
    for rel in ("in/b.png", "in/a.png", "in/sub/c.png", "x.png"):
        _png(tmp_path / rel)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    return tmp_path


def refused(match: str, *args, **kwargs) -> UserError:
    with pytest.raises(UserError, match=match) as info:
        plan_jobs(*args, **kwargs)
    return info.value


def test_find_images_pairs_each_file_with_the_folder_it_was_found_in(tree):
    got = find_images([tree / "in", tree / "x.png"])
    assert got == [
        (tree / "in" / "a.png", tree / "in"),
        (tree / "in" / "b.png", tree / "in"),
        (tree / "in" / "sub" / "c.png", tree / "in"),
        (tree / "x.png", None),  # a file given directly has no root
    ]
    assert find_images([tree / "in"], exclude=tree / "in" / "sub") == got[:2]


def test_find_images_refuses_empty_folders_and_missing_paths(tree):
    (tree / "empty").mkdir()
    with pytest.raises(UserError, match="no supported images") as info:
        find_images([tree / "empty"])
    assert info.value.path == str(tree / "empty")
    with pytest.raises(UserError, match="no such file or folder"):
        find_images([tree / "missing.png"])


def test_plan_keeps_names_relative_to_their_input_folder(tree):
    out = tree / "out"
    jobs = plan_jobs([tree / "in", tree / "x.png"], out)
    assert jobs == [
        Job(tree / "in" / "a.png", out / "a.png", "a.png"),
        Job(tree / "in" / "b.png", out / "b.png", "b.png"),
        Job(tree / "in" / "sub" / "c.png", out / "sub" / "c.png", "sub/c.png"),
        Job(tree / "x.png", out / "x.png", "x.png"),
    ]


def test_plan_refuses_an_out_that_is_a_file(tree):
    err = refused("is a file, not a folder", [tree / "in"], tree / "x.png")
    assert err.path == str(tree / "x.png")


def test_plan_refuses_an_out_that_is_an_input_folder(tree):
    err = refused("-o is this input folder", [tree / "in"], tree / "in", overwrite=True)
    assert err.path == str(tree / "in")


def test_plan_refuses_to_write_over_an_input(tree):
    refused("overwrite the input", [tree / "x.png"], tree, overwrite=True)
    refused("overwrite an input", [tree / "x.png"], tree, overwrite=True)  # both wordings


def test_plan_refuses_two_inputs_onto_one_output(tree):
    _png(tree / "other" / "a.png")
    err = refused("two inputs", [tree / "in" / "a.png", tree / "other" / "a.png"], tree / "o")
    assert err.path == str(tree / "o" / "a.png")


def test_plan_refuses_existing_outputs_unless_overwrite(tree):
    out = tree / "out"
    _png(out / "a.png")
    _png(out / "b.png")
    err = refused("output exists \\(and 1 more\\); pass --overwrite", [tree / "in"], out)
    assert err.path == str(out / "a.png")
    assert len(plan_jobs([tree / "in"], out, overwrite=True)) == 3


def test_plan_refuses_empty_folders(tree):
    (tree / "empty").mkdir()
    refused("no supported images", [tree / "empty"], tree / "out")


def test_plan_never_reads_back_an_output_folder_inside_an_input_folder(tree):
    _png(tree / "in" / "noisy" / "a.png")  # an earlier run's output
    jobs = plan_jobs([tree / "in"], tree / "in" / "noisy", overwrite=True)
    assert [job.name for job in jobs] == ["a.png", "b.png", "sub/c.png"]


def test_shards_split_the_plan_and_only_check_their_own_outputs(tree):
    out = tree / "out"
    first = plan_jobs([tree / "in"], out, shard=(0, 2))
    assert [job.name for job in first] == ["a.png", "sub/c.png"]
    for job in first:
        _png(job.dst)  # shard 0 has run
    assert [job.name for job in plan_jobs([tree / "in"], out, shard=(1, 2))] == ["b.png"]
    refused("output exists", [tree / "in"], out, shard=(0, 2))
