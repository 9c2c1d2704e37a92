"""`dit-accel` command line: generate (videos or images in batches), eval (methods against the stock
model), bench (kernel speed, attention quality) and models (the registry).

Every argument is checked before a model is loaded; a bad one ends the command with exit code 2 and one
line that names it.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dit_accel.checks import check_number
from dit_accel.generate.items import SEED_LIMIT, seed_error
from dit_accel.generate.settings import (
    STOCK,
    MethodSetting,
    accepted_flags,
    all_options,
    applies,
    check_setting,
    option_flag,
    parse_entry,
    resolve_setting,
    setting_names,
    setting_options,
)
from dit_accel.generate.stack import OFFLOADS
from dit_accel.models.registry import DEFAULT_MODEL, MODELS
from dit_accel.words import plural

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dit-accel" / "references"


class UsageError(Exception):
    """A bad argument: `argument` names it (e.g. "--density"), `reason` says what is wrong."""

    def __init__(self, argument: str, reason: str) -> None:
        super().__init__(f"argument {argument}: {reason}")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block), exit code 2."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _typed(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse `type` that reports `parse`'s ValueError message."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


# ---- method settings


def _option_flags(args: argparse.Namespace, methods: list[str]) -> dict[str, Any]:
    """The option flags given on the command line, each checked against the `methods` that take it."""
    given = {key: getattr(args, key) for key in all_options() if getattr(args, key, None) is not None}
    for key, value in given.items():
        for method in methods:
            option = setting_options(method).get(key)
            if option is not None:
                try:
                    option.check(key, value)
                except ValueError:
                    raise UsageError(option_flag(key), option.reason(value)) from None
    if "density" in given and "mass" in given:
        raise UsageError("--mass", "not allowed with --density (give one of them)")
    return given


def _checked(setting: MethodSetting, argument: str) -> MethodSetting:
    try:
        check_setting(setting)
    except ValueError as error:
        raise UsageError(argument, f"{setting.name}: {error}") from None
    return setting


def method_setting(args: argparse.Namespace, recommended: dict[str, dict[str, Any]]) -> MethodSetting:
    """generate's --method with its option flags on top of the model's recommendation."""
    flags = _option_flags(args, [args.method])
    for key in flags:
        if not applies(args.method, key):
            takes = ", ".join(accepted_flags(args.method)) or "no options"
            raise UsageError(
                option_flag(key), f"does not apply to method {args.method!r} ({args.method} takes {takes})"
            )
    return _checked(resolve_setting(args.method, recommended.get(args.method, {}), flags), "--method")


def method_settings(args: argparse.Namespace, recommended: dict[str, dict[str, Any]]) -> list[MethodSetting]:
    """eval's --methods list; each option flag applies to the listed methods that take it."""
    entries = [entry.strip() for entry in args.methods.split(",") if entry.strip()]
    if not entries:
        raise UsageError("--methods", "give at least one method")
    try:
        parsed = [(entry, *parse_entry(entry)) for entry in entries]
    except ValueError as error:
        raise UsageError("--methods", str(error)) from None
    flags = _option_flags(args, [name for _, name, _ in parsed])
    for key in flags:
        if not any(applies(name, key) for _, name, _ in parsed):
            raise UsageError(option_flag(key), f"applies to none of the methods {', '.join(entries)}")
    settings = []
    for entry, name, options in parsed:
        applicable = {key: value for key, value in flags.items() if applies(name, key)}
        setting = resolve_setting(name, recommended.get(name, {}), {**applicable, **options}, label=entry)
        settings.append(_checked(setting, "--methods"))
    return settings


# ---- prompts, sizes, output folder, device


def prompt_items(args: argparse.Namespace, spec: Any) -> list:
    """Items from --prompt and --prompts (else the model's sample prompts), sizes checked for the model."""
    from dit_accel.generate import make_items, read_prompt_file

    if reason := seed_error(args.seed):
        raise UsageError("--seed", reason)
    entries = []
    for prompt in args.prompt or []:
        if not prompt.strip():
            raise UsageError("--prompt", "empty prompt")
        entries.append({"prompt": prompt})
    if args.prompts is not None:
        try:
            entries += read_prompt_file(args.prompts)
        except OSError as error:
            raise UsageError("--prompts", f"cannot read {args.prompts} ({error.strerror or error})") from None
        except ValueError as error:
            raise UsageError("--prompts", f"{args.prompts}: {error}") from None
    if not entries:
        entries = [{"prompt": prompt} for prompt in spec.prompts]
    if args.steps is not None and args.steps < 1:
        raise UsageError("--steps", f"must be >= 1, got {args.steps}")
    height = args.height if args.height is not None else spec.height
    width = args.width if args.width is not None else spec.width
    frames = args.frames if args.frames is not None else spec.frames
    problem = spec.rules.check(height, width, frames)
    if problem:
        raise UsageError(problem[0], f"{problem[1]} ({spec.name})")
    items = make_items(entries, args.seed, height, width, frames)
    for item in items:
        if item.seed >= SEED_LIMIT:  # --seed + index
            raise UsageError("--seed", f"prompt {item.index + 1} would get seed {item.seed}, past 2**63 - 1")
        problem = spec.rules.check(item.height, item.width, item.frames)
        if problem:  # a size of the prompt file's own
            raise UsageError(problem[0], f"{problem[1]} (prompt {item.index + 1}, {spec.name})")
    return items


def writable_dir(path: Path, argument: str) -> Path:
    """Check that `path` is, or can be created as, a writable folder; creates nothing (the folder is
    made when the first file is written), so a later bad argument leaves no trace."""
    existing = next(folder for folder in (path, *path.parents) if folder.exists() or folder == folder.parent)
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is not a folder")
        if existing == path:
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)  # a unique name: no clash
            os.close(fd)
            os.unlink(probe)
        elif not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, f"cannot create folders in {existing}")
    except OSError as error:
        raise UsageError(argument, f"{path} is not a writable folder ({error.strerror or error})") from None
    return path


def pick_device(requested: str | None, local_rank: int, world: int) -> str:
    """--device, defaulting to CUDA when present; under a multi-process launch each rank its local GPU."""
    import torch

    device = requested or ("cuda" if torch.cuda.is_available() else "cpu")
    kind = device.split(":")[0]
    if kind not in ("cpu", "cuda", "mps", "xpu"):
        raise UsageError("--device", f"expected cpu, cuda, cuda:N, mps or xpu, got {device!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device", "CUDA is not available on this machine")
    if device == "cuda" and world > 1:
        device = f"cuda:{local_rank}"
    return device


def pick_dtype(name: str, device: str) -> str:
    return ("bfloat16" if not device.startswith("cpu") else "float32") if name == "auto" else name


def _common(args: argparse.Namespace) -> tuple[Any, list, str, str]:
    """(spec, items, device, dtype) after checking the model, sizes, steps and guidance."""
    from dit_accel.generate import process_rank

    if args.model not in MODELS:
        raise UsageError("--model", f"unknown model {args.model!r}; choose one of {', '.join(MODELS)}")
    spec = MODELS[args.model]
    if args.guidance is not None:
        try:
            check_number("guidance", args.guidance, 0)
        except ValueError as error:
            raise UsageError("--guidance", str(error).removeprefix("guidance ")) from None
    items = prompt_items(args, spec)
    _, world, local_rank = process_rank()
    device = pick_device(args.device, local_rank, world)
    return spec, items, device, pick_dtype(args.dtype, device)


def _load(spec: Any, args: argparse.Namespace, device: str, dtype: str, items: list) -> Any:
    """The pipeline; for a text encoder with a closed vocabulary (the demo model's), one warning that
    names the words of the prompts it cannot know."""
    import torch
    from diffusers.utils import logging as diffusers_logging

    from dit_accel.models.load import load_pipeline

    if args.no_progress:
        diffusers_logging.disable_progress_bar()  # "Loading pipeline components" bars
    pipe = load_pipeline(spec, args.model_path, device, getattr(torch, dtype), download=args.download)
    unknown_words = getattr(getattr(pipe, "text_encoder", None), "unknown_words", None)
    if unknown_words is not None and (words := unknown_words([item.prompt for item in items])):
        print(
            f"warning: model {spec.name!r} does not know the words {', '.join(words)} (each reads as an "
            f"unknown word); it knows captions like {spec.prompts[0]!r}",
            file=sys.stderr,
        )
    return pipe


def _prepare_stack(pipe: Any, args: argparse.Namespace, device: str) -> None:
    from dit_accel.generate.stack import compile_transformers, offload

    if args.offload:
        offload(pipe, args.offload, device)
    if args.vae_tiling:
        pipe.vae.enable_tiling()
    if args.compile:
        # diffusers' context-parallel split hook breaks the graph of the first block: no fullgraph there.
        compile_transformers(pipe, fullgraph=args.context_parallel == 1)


# ---- commands


def check_memory(
    spec: Any,
    items: list,
    settings: list[MethodSetting],
    batch: int,
    device: str,
    dtype: str,
    context_parallel: int = 1,
    offloaded: bool = False,
) -> None:
    """Refuse, before loading, a request that certainly does not fit on `device` (the estimate of
    `dit_accel.models.memory` for the largest item size and setting). `offloaded`: the weights stay on
    the CPU (`--offload`), so only the activations must fit."""
    from dit_accel.models.memory import GIB, available_bytes, estimate

    free = available_bytes(device)
    if free is None:
        return
    needs = []
    for setting in settings:
        method, _ = setting.build()
        block, static = (None, False) if method is None else (method.block_size, method.static)
        for height, width, frames in {item.size for item in items}:
            need = estimate(spec, height, width, frames, batch, dtype, block, static, context_parallel)
            if offloaded:
                need = dataclasses.replace(need, weights=0)
            needs.append(
                (need.total, need, f"{height}x{width}" + ("" if spec.is_image else f"x{frames}"), setting)
            )
    _, need, size, setting = max(needs, key=lambda entry: entry[0])
    if need.total <= free:
        return
    where = f"{device} has {free / GIB:,.1f} GiB free"
    if need.weights > free:
        raise UsageError(
            "--model",
            f"{spec.name} needs about {need.weights / GIB:,.1f} GiB for its weights in {dtype} alone; "
            + where,
        )
    flags = "--height/--width" + ("" if spec.is_image else "/--frames")
    raise UsageError(flags, f"{size} with {setting.name} (batch {batch}) needs {need.describe()}; {where}")


def generation_job(args: argparse.Namespace) -> tuple[Any, list]:
    """generate's job and this process's items (its context-parallel group's), every argument
    checked; nothing is loaded."""
    import torch

    from dit_accel.generate import GenerationJob, process_rank, shard
    from dit_accel.generate.groups import ContextGroups, context_error

    spec, items, device, dtype = _common(args)
    setting = method_setting(args, spec.recommended)
    if args.batch_size < 1:
        raise UsageError("--batch-size", f"must be >= 1, got {args.batch_size}")
    rank, world, _ = process_rank()
    reason = context_error(args.context_parallel, world, torch.accelerator.device_count())
    if reason:
        raise UsageError("--context-parallel", reason)
    check_memory(
        spec, items, [setting], args.batch_size, device, dtype, args.context_parallel, bool(args.offload)
    )
    groups = ContextGroups(rank, world, args.context_parallel)
    job = GenerationJob(
        spec=spec,
        setting=setting,
        steps=args.steps or spec.steps,
        guidance=spec.guidance if args.guidance is None else args.guidance,
        out=writable_dir(args.out, "--out"),
        batch_size=args.batch_size,
        model_path=str(args.model_path) if args.model_path else None,
        device=device,
        dtype=dtype,
    )
    return job, shard(items, groups.group, groups.groups)


def _generate(args: argparse.Namespace) -> int:
    from dit_accel.generate import pending_items, process_rank, run_generation
    from dit_accel.generate.groups import ContextGroup, ContextGroups

    job, mine = generation_job(args)
    rank, world, _ = process_rank()
    groups = ContextGroups(rank, world, args.context_parallel)
    group = ContextGroup(groups, job.device) if groups.context > 1 else None
    nothing = not pending_items(job, mine)
    if group.from_leader(nothing) if group is not None else nothing:
        print(f"nothing to do in {job.folder}: {plural(len(mine), 'item')}, done or being made elsewhere")
        return 0
    pipe = _load(job.spec, args, "cpu" if args.offload else job.device, job.dtype, mine)
    if group is not None:
        group.enable(pipe)
    _prepare_stack(pipe, args, job.device)
    counts = run_generation(pipe, job, mine, progress=not args.no_progress and rank == 0, group=group)
    if not groups.leader:
        return 0
    where = f" (rank {rank} of {world})" if world > 1 else ""
    busy = f"; {counts['busy']} being made by other processes" if counts["busy"] else ""
    noun = "image" if job.spec.is_image else "video"
    print(
        f"wrote {plural(counts['done'], noun)} to {job.folder}{where}; {counts['skipped']} already done{busy}"
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    import torch

    from dit_accel.eval.harness import EvalConfig, ReferenceCache, evaluate, weights_fingerprint
    from dit_accel.eval.metrics import load_metrics
    from dit_accel.eval.report import results_table, write_results
    from dit_accel.generate import process_rank

    if process_rank()[1] > 1:
        raise UsageError("eval", "runs in one process; start it without torchrun / accelerate launch")
    spec, items, device, dtype = _common(args)
    settings = method_settings(args, spec.recommended)
    if args.warmup < 0:
        raise UsageError("--warmup", f"must be >= 0, got {args.warmup}")
    check_memory(spec, items, [MethodSetting(STOCK), *settings], 1, device, dtype)
    out = writable_dir(args.out, "--out")
    cache = ReferenceCache(writable_dir(args.cache, "--cache")) if not args.no_cache else None
    pipe = _load(spec, args, device, dtype, items)
    metric_device = "cuda" if device.startswith("cuda") else "cpu"
    metrics = load_metrics(args.fid_weights, args.lpips_weights, metric_device)
    for line in metrics.skipped.values():
        print(line, file=sys.stderr)
    if args.no_progress:
        pipe.set_progress_bar_config(disable=True)
    identity = {
        "model": spec.name,
        "model_path": str(args.model_path) if args.model_path else None,
        "device": torch.device(device).type,
        "dtype": dtype,
        "weights": weights_fingerprint(pipe),
    }
    config = EvalConfig(
        spec=spec,
        steps=args.steps or spec.steps,
        guidance=spec.guidance if args.guidance is None else args.guidance,
        identity=identity,
        warmup_steps=args.warmup,
        metric_device=metric_device,
    )
    results = evaluate(pipe, config, items, settings, metrics, cache, args.refresh_reference)
    results["torch"] = torch.__version__
    paths = write_results(results, out)
    print(results_table(results))
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _models(args: argparse.Namespace) -> int:
    for spec in MODELS.values():
        name = f"{spec.name} *" if spec.name == DEFAULT_MODEL else spec.name
        size = f"{spec.width}x{spec.height}" + ("" if spec.is_image else f"x{spec.frames}f")
        source = spec.hub_id or "(offline)"
        print(f"{name:<18} {size:<16} {spec.steps:>3} steps  {source:<36} {spec.description}")
    print("* the default (--model)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import torch

    from dit_accel.results import write_result
    from dit_accel.speed.kernels import (
        CPU_SHAPES,
        DENSITIES,
        GPU_SHAPES,
        kernel_table,
        measure,
    )

    if reason := seed_error(args.seed):
        raise UsageError("--seed", reason)
    if args.quality:
        from dit_accel.quality.bench import quality_table, run_quality
        from dit_accel.quality.papers import SVG2_GRID, papers_table, radial_comparison, svg2_comparison
        from dit_accel.quality.synthetic import synthetic_attention

        print(quality_table(run_quality(seed=args.seed)))
        print(
            "\nAgainst the papers' own selections (dit_accel/quality/references.py); SVG2 on "
            f"{SVG2_GRID.frames}x{SVG2_GRID.height}x{SVG2_GRID.width} tokens, one head of each type:\n"
        )
        svg2 = svg2_comparison(synthetic_attention(SVG2_GRID, heads_per_type=1, seed=args.seed))
        print(papers_table(svg2, radial_comparison()))
        return 0
    out = writable_dir(args.out, "--out")
    gpu = torch.cuda.is_available() and not args.cpu
    result = measure(
        GPU_SHAPES if gpu else CPU_SHAPES, DENSITIES, device="cuda" if gpu else "cpu", seed=args.seed
    )
    table = kernel_table(result)
    print(table)
    print(f"\nwrote {write_result(result, out, markdown=table)}")
    return 0


# ---- parser


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Model, prompts, size, device: shared by generate and eval."""
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        metavar="NAME",
        help=f"model name (default {DEFAULT_MODEL}; see `dit-accel models`)",
    )
    model.add_argument(
        "--model-path",
        type=Path,
        metavar="DIR",
        help="local diffusers folder (or demo weights) to load instead",
    )
    model.add_argument("--download", action="store_true", help="allow downloading from the Hugging Face Hub")
    model.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda if available)")
    model.add_argument(
        "--dtype", choices=DTYPES, default="auto", help="default: bfloat16 on GPU, float32 on CPU"
    )
    run = parser.add_argument_group("prompts and sizes")
    run.add_argument("--prompt", action="append", metavar="TEXT", help="a prompt (repeatable)")
    run.add_argument(
        "--prompts",
        type=Path,
        metavar="FILE",
        help="one prompt per line, or JSONL with prompt/seed/height/width/frames",
    )
    run.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the first prompt; prompt i gets seed+i (default 0)",
    )
    run.add_argument("--steps", type=int, metavar="N", help="denoising steps (default: the model's)")
    run.add_argument("--guidance", type=float, metavar="SCALE", help="guidance scale (default: the model's)")
    run.add_argument("--height", type=int, metavar="N", help="pixels (default: the model's)")
    run.add_argument("--width", type=int, metavar="N", help="pixels (default: the model's)")
    run.add_argument(
        "--frames", type=int, metavar="N", help="video frames (default: the model's; Wan etc. need 4k+1)"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_option_arguments(parser: argparse.ArgumentParser) -> None:
    """A flag for every option of every method and of the schedule (`generate.settings.all_options`);
    unset ones take the model's recommendation, else the declared default."""
    group = parser.add_argument_group("method options (each checked against the method)")
    for key, (option, methods) in all_options().items():
        every = len(methods) == len(setting_names()) - 1
        takers = f"every method but {STOCK}" if every else ", ".join(methods)
        text = f"{takers}: {option.help}; {option.allowed}".replace("%", "%%")
        if option.kind == "bool":
            group.add_argument(option_flag(key), action=argparse.BooleanOptionalAction, help=text)
        else:
            group.add_argument(option_flag(key), type=_typed(option.parse), metavar=option.metavar, help=text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dit-accel", description="Sparse attention for diffusers DiTs.")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="generate videos (or images) for a list of prompts")
    _add_run_arguments(generate)
    generate.add_argument(
        "--method",
        choices=setting_names(),
        default="radial",
        help=f"attention method (default radial; {STOCK}: the model's own attention, untouched)",
    )
    _add_option_arguments(generate)
    generate.add_argument(
        "--batch-size", type=int, default=1, metavar="N", help="prompts per pipeline call (default 1)"
    )
    generate.add_argument(
        "--out", type=Path, default=Path("outputs"), metavar="DIR", help="output folder (default outputs/)"
    )
    generate.add_argument(
        "--context-parallel",
        type=int,
        default=1,
        metavar="N",
        help="under torchrun: N ranks (GPUs) make each video together (Ulysses); groups split the prompts",
    )
    stack = generate.add_argument_group("memory and compilation")
    stack.add_argument(
        "--offload",
        choices=OFFLOADS,
        help="keep weights on the CPU: whole models, one transformer block, or each layer at a time",
    )
    stack.add_argument("--vae-tiling", action="store_true", help="decode the VAE in tiles (less memory)")
    stack.add_argument(
        "--compile", action="store_true", help="torch.compile the transformer blocks (slow first call)"
    )
    generate.set_defaults(run=_generate)

    evaluate = commands.add_parser(
        "eval", help="methods against the stock model: speedup, PSNR, SSIM, LPIPS, FID"
    )
    _add_run_arguments(evaluate)
    evaluate.add_argument(
        "--methods",
        default="radial,draft",
        metavar="LIST",
        help="comma-separated settings METHOD[:option=value...], e.g. radial,draft:density=0.1 "
        "(default radial,draft)",
    )
    _add_option_arguments(evaluate)
    evaluate.add_argument(
        "--out",
        type=Path,
        default=Path("eval-results"),
        metavar="DIR",
        help="report folder (default eval-results/)",
    )
    evaluate.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        metavar="DIR",
        help=f"stock reference cache (default {DEFAULT_CACHE})",
    )
    evaluate.add_argument(
        "--no-cache", action="store_true", help="neither read nor write the reference cache"
    )
    evaluate.add_argument(
        "--refresh-reference", action="store_true", help="recompute cached stock references"
    )
    evaluate.add_argument(
        "--warmup",
        type=int,
        default=1,
        metavar="N",
        help="steps of the untimed warm-up run per setting (0: none)",
    )
    evaluate.add_argument(
        "--fid-weights", type=Path, metavar="FILE", help="Inception weights for FID ($DIT_ACCEL_FID_WEIGHTS)"
    )
    evaluate.add_argument(
        "--lpips-weights",
        type=Path,
        metavar="FILE",
        help="AlexNet weights for LPIPS ($DIT_ACCEL_LPIPS_WEIGHTS)",
    )
    evaluate.set_defaults(run=_eval)

    bench = commands.add_parser(
        "bench",
        help="kernel speed (ours vs SDPA dense vs FlexAttention) or --quality (synthetic attention error)",
    )
    bench.add_argument("--quality", action="store_true", help="method error vs dense on synthetic attention")
    bench.add_argument("--cpu", action="store_true", help="run the reduced CPU set even if CUDA is present")
    bench.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    bench.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results"),
        metavar="DIR",
        help="folder for the JSON result and its table (default bench-results/; the project's committed "
        "numbers live in benchmarks/results/, written only when given here)",
    )
    bench.set_defaults(run=_bench)

    models = commands.add_parser("models", help="list the models --model accepts")
    models.set_defaults(run=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    from dit_accel.models.load import ModelNotAvailable

    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"dit-accel {args.command}"
    try:
        return args.run(args)
    except UsageError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
    except ModelNotAvailable as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
