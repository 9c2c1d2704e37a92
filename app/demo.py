"""`python app/demo.py`: the dit-accel web demo, dense vs accelerated video side by side (Gradio)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):
    # Run as a script, Python puts app/ first on the path; the package lives one level up.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

# The app modules import gradio only after app/__init__.py has switched its analytics off.
from app.catalog import default_model, model_choices  # noqa: E402
from app.session import Session  # noqa: E402
from app.ui import build_demo, theme  # noqa: E402

if TYPE_CHECKING:
    import gradio as gr

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def create_app(
    out_dir: str | Path | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    demo_weights: str | Path | None = None,
    model: str | None = None,
) -> tuple[gr.Blocks, Session]:
    """The queued app (one job at a time) and its session. model: selected first (default: the demo
    model when its weights are present, else tiny-wan); videos go to `out_dir` (default: a temp folder)."""
    choices = model_choices(demo_weights)
    names = [choice.name for choice in choices]
    if model is not None and model not in names:
        raise ValueError(f"model {model!r} cannot run here; choose one of {', '.join(names)}")
    session = Session(out_dir or tempfile.mkdtemp(prefix="dit-accel-demo-"), device, dtype, demo_weights)
    demo = build_demo(session, choices, model or default_model(choices))
    demo.queue(default_concurrency_limit=1)
    return demo, session


def launch(
    demo: gr.Blocks,
    session: Session,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    block: bool = True,
) -> str:
    """Serve the app offline (no analytics, no server-side rendering, system fonts); returns its local URL.
    block=False returns at once and serves from a background thread (tests)."""
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        quiet=not block,
        theme=theme(),
        ssr_mode=False,
        mcp_server=False,
        allowed_paths=[str(session.out_dir)],
    )
    return demo.local_url


def build_parser() -> argparse.ArgumentParser:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(
        description="dit-accel web demo: dense vs accelerated video side by side."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument(
        "--share", action="store_true", help="also open a public gradio.live link (needs internet)"
    )
    parser.add_argument(
        "--model", help="model selected first (default: demo, or tiny-wan without demo weights)"
    )
    parser.add_argument("--demo-weights", help="folder of trained demo weights (default: the packaged ones)")
    parser.add_argument(
        "--device", default="cuda" if cuda else "cpu", help="torch device (default: cuda if present)"
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="bfloat16" if cuda else "float32",
        help="model dtype (default bf16 on CUDA)",
    )
    parser.add_argument("--out", help="folder for the generated videos (default: a new temp folder)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        demo, session = create_app(args.out, args.device, DTYPES[args.dtype], args.demo_weights, args.model)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    launch(demo, session, args.host, args.port, args.share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
