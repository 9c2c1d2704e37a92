"""`dit-accel generate` / `eval` end to end as subprocesses on tiny-wan (batch, resume, sidecars, mp4,
two-process split, reports), and every argument error: exit code 2, one line naming the argument, no model
loaded."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dit_accel.models.load as load_module
import dit_accel.models.memory as memory
import dit_accel.speed.kernels as kernels
from dit_accel.cli import build_parser, generation_job, main
from dit_accel.generate import Schedule, make_items, read_prompt_file, shard
from dit_accel.methods import Draft
from dit_accel.models.registry import DEFAULT_MODEL, MODELS
from dit_accel.options import option_values
from dit_accel.processes import HOST
from dit_accel.video_io import read_video, write_video
from tests.helpers import dead_pid, strict_json

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dit_accel.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _sidecars(folder: Path) -> dict[str, dict]:
    """Sidecars of one run folder (<out>/<model>-<method>/) by their index and prompt words."""
    return {path.stem[:-9]: strict_json(path) for path in sorted(folder.glob("*.json"))}


def test_generate_a_batch_then_resume_skips_finished_items(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    lines = [
        {"prompt": "a cat runs"},
        {"prompt": "a dog jumps", "seed": 7},
        {"prompt": "a red car", "frames": 5},
    ]
    prompts.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    out = tmp_path / "out"
    args = [
        "generate",
        "--model",
        "tiny-wan",
        "--method",
        "draft",
        "--density",
        "0.5",
        "--prompts",
        str(prompts),
    ]
    args += [
        "--steps",
        "2",
        "--height",
        "64",
        "--width",
        "64",
        "--batch-size",
        "2",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert "wrote 3 videos" in _ok(_cli(*args))

    folder = out / "tiny-wan-draft"
    sidecars = _sidecars(folder)
    assert list(sidecars) == ["00000-a-cat-runs", "00001-a-dog-jumps", "00002-a-red-car"]
    assert [s["seed"] for s in sidecars.values()] == [0, 7, 2]
    assert [s["batch_size"] for s in sidecars.values()] == [2, 2, 1]  # the 5-frame item is its own batch
    for stem, sidecar in sidecars.items():
        assert re.fullmatch(rf"{stem}-[0-9a-f]{{8}}\.mp4", sidecar["file"])
        assert sidecar["model"] == "tiny-wan" and sidecar["method"] == "draft"
        assert sidecar["options"] == {
            **Draft(density=0.5, block_size=16).options(),
            **option_values(Schedule()),
        }
        assert sidecar["steps"] == 2 and sidecar["seconds"] > 0
        assert 0.0 < sidecar["attention"]["density"] < 1.0 and sidecar["attention"]["calls"] > 0
        frames = read_video(folder / sidecar["file"])
        assert frames.shape == (sidecar["frames"], 64, 64, 3) and frames.dtype == np.uint8
    assert [s["frames"] for s in sidecars.values()] == [9, 9, 5]
    assert [path.name for path in folder.glob(".*")] == [".claims"] and not list(
        (folder / ".claims").iterdir()
    )

    # An interrupted item: its sidecar is missing and its dead writer left a temporary file behind.
    (dog,) = folder.glob("00001-a-dog-jumps-*.json")
    dog.unlink()
    stale = folder / f".{dog.stem}.tmp-{dead_pid()}-{HOST}-0123abcd.mp4"
    stale.write_bytes(b"half a video")
    kept = {path: path.stat().st_mtime_ns for path in folder.glob("0000[02]-*")}
    assert "wrote 1 video to" in _ok(_cli(*args)) and not stale.exists()
    assert {path: path.stat().st_mtime_ns for path in kept} == kept
    assert _sidecars(folder)["00001-a-dog-jumps"]["seed"] == 7


def test_two_processes_split_the_prompts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["generate", "--model", "tiny-wan", "--method", "radial", "--steps", "1", "--out", str(out)]
    args += ["--height", "32", "--width", "32", "--frames", "5", "--no-progress"]
    args += ["--prompt", "a cat", "--prompt", "a dog", "--prompt", "a bird"]
    command = [sys.executable, "-m", "dit_accel.cli", *args]
    procs = [
        subprocess.Popen(
            command,
            env={**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    assert "wrote 2 videos" in outputs[0][0] and "(rank 0 of 2)" in outputs[0][0]
    assert "wrote 1 video to" in outputs[1][0] and "(rank 1 of 2)" in outputs[1][0]
    sidecars = _sidecars(out / "tiny-wan-radial")
    assert [(s["prompt"], s["rank"], s["world_size"]) for s in sidecars.values()] == [
        ("a cat", 0, 2),
        ("a dog", 1, 2),
        ("a bird", 0, 2),
    ]
    assert len(list(out.glob("*/*.mp4"))) == 3


SMALL = [
    "--model",
    "tiny-wan",
    "--steps",
    "1",
    "--height",
    "32",
    "--width",
    "32",
    "--frames",
    "5",
    "--no-progress",
]


def test_outputs_of_different_settings_never_collide_and_a_rerun_is_skipped(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    runs = [
        ["--method", "radial"],
        ["--method", "draft"],
        ["--method", "radial", "--decay", "0.5"],
        ["--method", "radial", "--seed", "3"],
        ["--method", "radial", "--steps", "2"],
    ]
    for run in runs:
        assert main(["generate", *SMALL, *run, "--prompt", "a cat runs", "--out", str(out)]) == 0
        assert "wrote 1 video to" in capsys.readouterr().out
    media = sorted(out.glob("*/*.mp4"))
    assert len(media) == len(runs) and {path.parent.name for path in media} == {
        "tiny-wan-radial",
        "tiny-wan-draft",
    }
    recorded = [strict_json(path.with_suffix(".json")) for path in media]
    assert sorted((r["method"], r["options"].get("decay"), r["seed"], r["steps"]) for r in recorded) == [
        ("draft", None, 0, 1),
        ("radial", 0.2, 0, 1),
        ("radial", 0.2, 0, 2),
        ("radial", 0.2, 3, 1),
        ("radial", 0.5, 0, 1),
    ]
    stamps = {path: path.stat().st_mtime_ns for path in media}
    for run in runs:
        assert main(["generate", *SMALL, *run, "--prompt", "a cat runs", "--out", str(out)]) == 0
        assert "nothing to do in" in capsys.readouterr().out
    assert {path: path.stat().st_mtime_ns for path in out.glob("*/*.mp4")} == stamps


def test_the_readme_quickstart_names_the_file_generate_writes(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    quickstart = readme[readme.index("## Quickstart") :]
    named = re.search(r"`outputs/([^`]+\.mp4)`", quickstart).group(1)
    prompt = re.search(r'dit-accel generate --prompt "([^"]+)"', quickstart).group(1)
    args = build_parser().parse_args(
        ["generate", "--prompt", prompt, "--device", "cpu", "--out", str(tmp_path)]
    )
    job, items = generation_job(args)
    assert job.media_path(items[0]).relative_to(tmp_path).as_posix() == named


def test_processes_sharing_one_out_all_succeed_and_make_every_item_once(tmp_path: Path) -> None:
    """Three independent processes on one --out (as on three machines sharing a file system)."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"a cat number {i} runs\n" for i in range(3)))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "dit_accel.cli", "generate", *SMALL, "--steps", "2"]
    command += ["--method", "draft", "--prompts", str(prompts), "--out", str(out)]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err[-2000:] for _, err in outputs]
    made = [re.search(r"wrote (\d+) videos? to", stdout) for stdout, _ in outputs]
    assert all(made) and sum(int(m.group(1)) for m in made) == 3, [stdout for stdout, _ in outputs]
    folder = out / "tiny-wan-draft"
    sidecars = _sidecars(folder)
    assert sorted(sidecars) == [f"0000{i}-a-cat-number-{i}-runs" for i in range(3)]
    assert {s["pid"] for s in sidecars.values()} <= {proc.pid for proc in procs}
    assert len(list(folder.glob("*.mp4"))) == 3 and not list((folder / ".claims").iterdir())
    assert [path.name for path in folder.glob(".*")] == [".claims"]  # no temporary file left


def test_eval_writes_results_report_and_plot(tmp_path: Path) -> None:
    out, cache = tmp_path / "report", tmp_path / "cache"
    result = _cli(
        "eval", "--model", "tiny-wan", "--methods", "stock,draft", "--prompt", "a cat runs", "--steps", "2",
        "--out", str(out), "--cache", str(cache), "--no-progress",
    )  # fmt: skip
    assert "| draft |" in _ok(result)
    results = strict_json(out / "results.json")
    stock, draft = results["methods"]
    assert stock["label"] == "stock" and stock["psnr"] == 100.0 and stock["ssim"] == pytest.approx(1.0)
    assert math.isfinite(draft["psnr"]) and 5.0 < draft["psnr"] < 100.0 and 0.0 < draft["ssim"] < 1.0
    assert 0.0 < draft["density"] < 1.0 and draft["options"]["density"] == 0.25
    for key in ("speedup", "attention_speedup", "seconds", "attention_s"):
        assert math.isfinite(draft[key]) and draft[key] > 0
    assert results["stock"]["from_cache"] == 0 and len(list(cache.glob("*.npz"))) == 1
    for metric in ("lpips", "fid"):
        assert (draft[metric] is None) == (metric in results["skipped_metrics"])
        if metric in results["skipped_metrics"]:
            assert results["skipped_metrics"][metric] in result.stderr
    assert "| stock (reference) |" in (out / "report.md").read_text()
    assert (out / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_video_writing_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"

    class Broken(np.ndarray):
        def __iter__(self):
            yield np.zeros((16, 16, 3), np.uint8)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_video(path, np.zeros((3, 16, 16, 3), np.uint8).view(Broken), fps=8)
    assert not path.exists() and not list(tmp_path.iterdir())
    write_video(path, np.full((3, 16, 16, 3), 0.5, np.float32), fps=8)
    frames = read_video(path)
    assert frames.shape == (3, 16, 16, 3) and abs(int(frames.mean()) - 128) <= 2


def test_prompt_files_items_and_shards(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("a cat runs\n\n  a dog jumps  \n")
    items = make_items(read_prompt_file(plain), seed=10, height=64, width=96, frames=9)
    assert [(i.prompt, i.seed, i.size) for i in items] == [
        ("a cat runs", 10, (64, 96, 9)),
        ("a dog jumps", 11, (64, 96, 9)),
    ]
    assert [i.stem for i in items] == ["00000-a-cat-runs", "00001-a-dog-jumps"]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"prompt": "A Cat!", "seed": 3, "height": 32}\nplain words\n')
    first, second = make_items(read_prompt_file(mixed), seed=0, height=64, width=64, frames=5)
    assert (first.seed, first.size, first.stem) == (3, (32, 64, 5), "00000-a-cat") and second.seed == 1
    for line, message in [
        ('{"prompt": ""}', 'line 1: needs a non-empty string "prompt"'),
        ('{"prompt": "a", "fps": 8}', "line 1: unknown keys ['fps']"),
        ('{"prompt": "a", "seed": "7"}', "line 1: 'seed' must be an integer, got '7'"),
    ]:
        mixed.write_text(line + "\n")
        with pytest.raises(ValueError, match=re.escape(message)):
            read_prompt_file(mixed)
    items = make_items([{"prompt": str(i)} for i in range(5)], 0, 16, 16, 1)
    assert [[i.index for i in shard(items, rank, 2)] for rank in (0, 1)] == [[0, 2, 4], [1, 3]]


# ---- argument errors (in process): exit 2, one line naming the argument, before any model is loaded

ERRORS = [
    (["generate", "--model", "nope"],
     "argument --model: unknown model 'nope'; choose one of wan2.1, "),
    (["generate", "--method", "sparse"],
     "argument --method: invalid choice: 'sparse' (choose from "),
    (["generate", "--model", "tiny-wan", "--method", "draft", "--decay", "0.3"],
     "argument --decay: does not apply to method 'draft' (draft takes --density, --mass, --per-head, "
     "--block-size, --dense-steps, "),
    (["generate", "--method", "stock", "--dense-steps", "2"],
     "argument --dense-steps: does not apply to method 'stock' (stock takes no options)"),
    (["generate", "--method", "dense", "--decay", "0.2"],
     "argument --decay: does not apply to method 'dense' (dense takes --block-size, --dense-steps, "),
    (["generate", "--method", "draft", "--density", "1.5"],
     "argument --density: must be a number in (0, 1] or None, got 1.5"),
    (["generate", "--method", "draft", "--density", "nan"],
     "argument --density: must be a number in (0, 1] or None, got nan"),
    (["generate", "--method", "draft", "--density", "x"],
     "argument --density: expected a number in (0, 1] or None, got 'x'"),
    (["generate", "--method", "draft", "--density", "0.2", "--mass", "0.9"],
     "argument --mass: not allowed with --density"),
    (["generate", "--method", "radial", "--decay", "0"],
     "argument --decay: must be a number > 0 (inf allowed), got 0.0"),
    (["generate", "--method", "radial", "--dense-frames", "-1"],
     "argument --dense-frames: must be an integer >= 0, got -1"),
    (["generate", "--method", "window", "--window", "0,4,4"],
     "argument --window: must be 3 integers >= 1, got (0, 4, 4)"),
    (["generate", "--method", "reordered", "--k-clusters", "0"],
     "argument --k-clusters: must be an integer >= 1 or None, got 0"),
    (["generate", "--method", "reordered", "--order", "pca"],
     "argument --order: must be one of 'axes', 'semantic', got 'pca'"),
    (["generate", "--method", "radial", "--block-size", "48"],
     "argument --block-size: must be one of 16, 32, 64, 128, 256, got 48"),
    (["generate", "--dense-steps", "1.5"],
     "argument --dense-steps: must be an integer count >= 0 or a fraction in [0, 1], got 1.5"),
    (["generate", "--refresh-every", "0"],
     "argument --refresh-every: must be an integer >= 1, got 0"),
    (["generate", "--min-seq-len", "-1"],
     "argument --min-seq-len: must be an integer >= 0, got -1"),
    (["generate", "--model", "tiny-wan", "--frames", "10"],
     "argument --frames: must be 4k+1 (1, 5, ...), got 10 (tiny-wan)"),
    (["generate", "--model", "wan2.1", "--height", "470"],
     "argument --height: must be a positive multiple of 16, got 470 (wan2.1)"),
    (["generate", "--model", "wan2.2-5b", "--width", "1264"],
     "argument --width: must be a positive multiple of 32"),
    (["generate", "--model", "flux", "--frames", "9"],
     "argument --frames: must be 1 for an image model, got 9"),
    (["generate", "--model", "ltx-video", "--frames", "95"],
     "argument --frames: must be 8k+1 (1, 9, ...), got 95"),
    (["generate", "--model", "demo", "--width", "66"],
     "argument --width: must be a positive multiple of 4"),
    (["generate", "--steps", "0"],
     "argument --steps: must be >= 1, got 0"),
    (["generate", "--batch-size", "0"],
     "argument --batch-size: must be >= 1, got 0"),
    (["generate", "--guidance", "-1"],
     "argument --guidance: must be a number >= 0, got -1.0"),
    (["generate", "--guidance", "inf"],
     "argument --guidance: must be a number >= 0, got inf"),
    (["generate", "--guidance", "nan"],
     "argument --guidance: must be a number >= 0, got nan"),
    (["generate", "--method", "draft", "--density", "nan"],
     "argument --density: "),
    (["generate", "--method", "adaptive", "--mass", "inf"],
     "argument --mass: "),
    (["generate", "--method", "radial", "--decay", "nan"],
     "argument --decay: "),
    (["generate", "--seed", "99999999999999999999"],
     "argument --seed: must be in [0, 2**63), got 99999999999999999999"),
    (["generate", "--seed", "-1"],
     "argument --seed: must be in [0, 2**63), got -1"),
    (["generate", "--seed", "9223372036854775807", "--prompt", "a", "--prompt", "b"],
     "argument --seed: prompt 2 would get seed 9223372036854775808, past 2**63 - 1"),
    (["generate", "--prompts", "{tmp}/seed.jsonl"],
     "argument --prompts: {tmp}/seed.jsonl: line 2: 'seed' must be in [0, 2**63), got 9223372036854775808"),
    (["generate", "--prompts", "{tmp}/bom.jsonl"],
     "argument --prompts: {tmp}/bom.jsonl: line 1: not valid JSON"),
    (["generate", "--prompts", "{tmp}/latin1.txt"],
     "argument --prompts: {tmp}/latin1.txt: line 2: not UTF-8 text"),
    (["generate", "--model", "tiny-flux", "--height", "20000", "--width", "20000"],
     "argument --height: must be at most 4096, got 20000 (tiny-flux)"),
    (["bench", "--seed", "-3"],
     "argument --seed: must be in [0, 2**63), got -3"),
    (["generate", "--prompt", "  "],
     "argument --prompt: empty prompt"),
    (["generate", "--prompts", "{tmp}/empty.txt"],
     "argument --prompts: {tmp}/empty.txt: no prompts in the file"),
    (["generate", "--prompts", "{tmp}/missing.txt"],
     "argument --prompts: cannot read {tmp}/missing.txt"),
    (["generate", "--prompts", "{tmp}/bad.jsonl"],
     "argument --prompts: {tmp}/bad.jsonl: line 2: not valid JSON"),
    (["generate", "--model", "tiny-wan", "--prompts", "{tmp}/sizes.jsonl"],
     "argument --frames: must be 4k+1 (1, 5, ...), got 8 (prompt 2, tiny-wan)"),
    (["generate", "--out", "{tmp}/empty.txt/videos"],
     "argument --out: {tmp}/empty.txt/videos is not a writable folder"),
    (["eval", "--methods", "radial,bogus"],
     "argument --methods: unknown method 'bogus'; choose from stock, dense, radial, window, draft, "),
    (["eval", "--methods", "draft:decay=0.2"],
     "argument --methods: 'draft:decay=0.2': --decay does not apply to method 'draft'"),
    (["eval", "--methods", "draft:density=2"],
     "argument --methods: 'draft:density=2': density must be a number in (0, 1] or None, got 2.0"),
    (["eval", "--methods", "draft:per_head=maybe"],
     "argument --methods: 'draft:per_head=maybe': expected True or False, got 'maybe'"),
    (["eval", "--methods", "radial,draft", "--order", "axes"],
     "argument --order: applies to none of the methods radial, draft"),
    (["eval", "--cache", "{tmp}/empty.txt/cache"],
     "argument --cache: {tmp}/empty.txt/cache is not a writable folder"),
]  # fmt: skip


def _run_failing(argv: list[str], capsys) -> str:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(("argv", "message"), ERRORS, ids=[" ".join(argv[:3]) for argv, _ in ERRORS])
def test_bad_arguments_exit_2_with_one_line(argv, message, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.txt").write_text("\n  \n")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a cat"}\n{"prompt": "a dog",\n')
    (tmp_path / "sizes.jsonl").write_text('{"prompt": "a cat"}\n{"prompt": "a dog", "frames": 8}\n')
    (tmp_path / "seed.jsonl").write_text(f'{{"prompt": "a cat"}}\n{{"prompt": "a dog", "seed": {2**63}}}\n')
    (tmp_path / "bom.jsonl").write_text('\ufeff{"prompt": "a cat", "seed": 5\n', encoding="utf-8")
    (tmp_path / "latin1.txt").write_text("a cat\na café\n", encoding="latin-1")
    before = sorted(tmp_path.rglob("*"))

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(load_module, "load_pipeline", no_loading)
    err = _run_failing([part.replace("{tmp}", str(tmp_path)) for part in argv], capsys)
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert sorted(tmp_path.rglob("*")) == before  # a bad argument leaves nothing behind
    if "invalid choice" in message:
        names = ("stock", "dense", "radial", "window", "draft", "reordered", "adaptive")
        assert all(method in err for method in names)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda(capsys) -> None:
    assert "argument --device: CUDA is not available" in _run_failing(
        ["generate", "--device", "cuda"], capsys
    )


def test_eval_refuses_a_multi_process_launch(capsys, monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert "argument eval: runs in one process" in _run_failing(["eval"], capsys)


def test_missing_model_weights_exit_2_with_where_and_how(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2**50)  # past the memory check
    argv = [
        "generate",
        "--model",
        "wan2.1",
        "--model-path",
        str(tmp_path / "nothing"),
        "--out",
        str(tmp_path),
    ]
    err = _run_failing(argv, capsys)
    assert "error: model 'wan2.1': no diffusers pipeline at " + str(tmp_path / "nothing") in err
    assert "--model-path" in err and "hf download Wan-AI/Wan2.1-T2V-1.3B-Diffusers" in err


def test_missing_demo_weights_name_the_flag(tmp_path, capsys) -> None:
    err = _run_failing(
        ["generate", "--model-path", str(tmp_path / "nothing"), "--out", str(tmp_path)], capsys
    )
    assert f"No demo video model at {tmp_path / 'nothing'}" in err
    assert "--model-path DIR" in err and "`path`" not in err


def test_requests_that_cannot_fit_are_refused_before_loading(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda device: 8 * memory.GIB)
    monkeypatch.setattr(load_module, "load_pipeline", lambda *args, **kwargs: pytest.fail("loaded"))
    out = ["--device", "cpu", "--out", str(tmp_path)]
    big = ["generate", "--model", "tiny-flux", "--height", "2048", "--width", "2048", *out]
    err = _run_failing([*big, "--method", "draft"], capsys)
    # 1,048,576 tokens in blocks of 16: draft scores a 65,536 x 65,536 block map per head
    assert "argument --height/--width: 2048x2048 with draft (batch 1) needs about 33.0 GiB" in err
    assert "1,048,576 tokens" in err and "attention 32.0" in err and "cpu has 8.0 GiB free" in err
    job, _ = generation_job(build_parser().parse_args([*big, "--method", "stock"]))  # stock attention fits
    assert job.setting.method == "stock"
    err = _run_failing(["generate", "--model", "wan2.2", *out], capsys)
    assert "argument --model: wan2.2 needs about 125.9 GiB for its weights in float32 alone" in err


@pytest.mark.parametrize(
    ("model", "tokens"),
    [("wan2.1", 21 * 30 * 52), ("hunyuanvideo", 33 * 45 * 80), ("cogvideox", 13 * 30 * 45),
     ("ltx-video", 21 * 15 * 22), ("flux", 64 * 64), ("demo", 9 * 16 * 16), ("tiny-wan", 3 * 8 * 8)],
)  # fmt: skip
def test_memory_estimate_counts_the_tokens_of_the_default_size(model: str, tokens: int) -> None:
    spec = MODELS[model]
    assert memory.token_count(spec.footprint, spec.height, spec.width, spec.frames) == tokens


def test_models_marks_the_default(capsys) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines if " * " in line or line.startswith(f"{DEFAULT_MODEL} *")] == [
        DEFAULT_MODEL
    ]
    assert lines[-1] == "* the default (--model)"


def test_bench_writes_to_out_and_leaves_the_committed_results_alone(tmp_path, capsys, monkeypatch) -> None:
    committed = {path: path.read_bytes() for path in (ROOT / "benchmarks" / "results").iterdir()}
    monkeypatch.setattr(kernels, "CPU_SHAPES", (kernels.Shape("tiny", 1, 256, 1, 16),))
    monkeypatch.setattr(kernels, "DENSITIES", (1.0, 0.5))
    monkeypatch.setattr(kernels, "measure", functools.partial(kernels.measure, flex="off", repeats=1))
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--cpu"]) == 0
    written = sorted(path.name for path in (tmp_path / "bench-results").iterdir())
    assert [Path(name).suffix for name in written] == [".json", ".md"]
    result = strict_json(tmp_path / "bench-results" / written[0])
    assert [row["density"] for row in result["rows"]] == [1.0, 0.5]
    assert (tmp_path / "bench-results" / written[1]).read_text().strip() == kernels.kernel_table(result)
    assert {path: path.read_bytes() for path in (ROOT / "benchmarks" / "results").iterdir()} == committed


def test_prompts_outside_the_demo_vocabulary_warn_once(tmp_path, capsys) -> None:
    argv = ["generate", "--steps", "1", "--no-progress", "--out", str(tmp_path)]
    argv += ["--prompt", "a red zebra moving left", "--prompt", "a blue zebra on a xylophone background"]
    assert main(argv) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert "model 'demo' does not know the words xylophone, zebra" in warnings[0]


def test_prompt_files_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "a cat", "seed": 5, "height": 32}\nplain words\n', encoding="utf-8-sig")
    first, second = read_prompt_file(path)
    assert first == {"prompt": "a cat", "seed": 5, "height": 32} and second == {"prompt": "plain words"}


def test_offload_and_vae_tiling_flags_give_the_same_video(tmp_path: Path) -> None:
    args = ["generate", "--model", "tiny-wan", "--method", "radial", "--steps", "1", "--no-progress"]
    args += ["--height", "32", "--width", "32", "--frames", "5", "--prompt", "a cat"]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert main([*args, "--out", str(tmp_path / "stack"), "--offload", "group", "--vae-tiling"]) == 0
    plain, stack = (read_video(next((tmp_path / name).glob("*/*.mp4"))) for name in ("plain", "stack"))
    assert plain.shape == (5, 32, 32, 3) and np.array_equal(plain, stack)


def test_compile_flag_compiles_the_transformer_blocks() -> None:
    from dit_accel.cli import _prepare_stack, build_parser
    from dit_accel.models.tiny_random import tiny_wan_pipeline

    pipe = tiny_wan_pipeline()
    args = build_parser().parse_args(["generate", "--compile", "--offload", "model", "--prompt", "a cat"])
    _prepare_stack(pipe, args, "cpu")
    assert all(block._compiled_call_impl is not None for block in pipe.transformer.blocks)
    assert hasattr(pipe.transformer, "_hf_hook")  # accelerate's model offload hook
