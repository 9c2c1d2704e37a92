"""The page: the form, dense and accelerated videos side by side, metrics, layout picture and sweep."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from app.catalog import ModelChoice
from app.defaults import page_default
from app.layout_plot import LayoutView, layout_image, message_image
from app.request import (
    BLOCK_SIZES,
    BUDGETS,
    METHODS,
    ORDERS,
    Form,
    InputError,
    Request,
    knob_defaults,
    parse_form,
    shows,
)
from app.session import Progress, Session
from app.sweep import COLUMNS, run_sweep, sweep_plot, sweep_rows
from dit_accel.models import get_model

# The endpoints' argument names: the form's fields, in the order of the page's inputs.
GENERATE_ARGS = [field.name for field in dataclasses.fields(Form)]
SWEEP_ARGS = [name for name in GENERATE_ARGS if name not in ("layer", "head")]  # the sweep draws no layout
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
log = logging.getLogger(__name__)


def theme() -> gr.themes.Base:
    """The default look with system fonts only, so the page fetches nothing from font servers."""
    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)


@contextlib.contextmanager
def page_errors(what: str) -> Iterator[None]:
    """Turn any failure into a one-line message in the page (gr.Error); tracebacks go to the server log."""
    try:
        yield
    except InputError as error:
        raise gr.Error(str(error), print_exception=False) from None
    except gr.Error:
        raise
    except Exception as error:
        log.exception("%s failed", what)
        first = (str(error).strip().splitlines() or [""])[0]
        raise gr.Error(f"{what} failed: {type(error).__name__}: {first}", print_exception=False) from None


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def metrics_markdown(metrics: dict[str, Any]) -> str:
    """The comparison's numbers as a small table."""
    attention = metrics["attention_speedup"]
    cached = " (cached)" if metrics["dense_cached"] else ""
    return "\n".join(
        [
            f"| | dense{cached} | {metrics['method']} |",
            "|---|---|---|",
            f"| wall time | {_seconds(metrics['dense_seconds'])} | "
            f"{_seconds(metrics['accelerated_seconds'])} (**{metrics['speedup']:.2f}x**) |",
            f"| attention time | {_seconds(metrics['dense_attention_seconds'])} | "
            f"{_seconds(metrics['accelerated_attention_seconds'])}"
            + (f" ({attention:.2f}x) |" if attention is not None else " |"),
            f"| attention computed | 100% | {metrics['density']:.1%} |",
            "",
            f"**PSNR {metrics['psnr_db']:.2f} dB, SSIM {metrics['ssim']:.4f}** (accelerated vs dense, "
            "8-bit frames before video encoding, mean over frames). Attention time includes planning; "
            "speedups are dense / accelerated.",
        ]
    )


def _knob_updates(model: str, method: str) -> list[Any]:
    """Values and visibility of the method knobs: the model's recommendation for `method`."""
    knobs = knob_defaults(get_model(model), method)
    shows_budget = shows("budget", method)
    return [
        gr.update(value=knobs["budget"], visible=shows_budget),
        gr.update(value=knobs["amount"], visible=shows_budget),
        gr.update(value=knobs["decay"], visible=shows("decay", method)),
        gr.update(value=knobs["order"], visible=shows("order", method)),
        knobs["block_size"],
        knobs["dense_steps"],
        knobs["dense_layers"],
    ]


def build_demo(session: Session, choices: list[ModelChoice], model: str) -> gr.Blocks:
    """The Blocks app over `session`; `model` is selected first. Generate is the API endpoint /generate and
    the sweep /sweep; every input has a default, so both work with no arguments."""
    missing = {choice.name: choice.missing for choice in choices}
    spec = get_model(model)
    first = page_default(spec)
    knobs = first.knobs

    def shown(knob: str) -> bool:
        return shows(knob, first.method)

    def status(name: str) -> str:
        if missing.get(name):
            return f"**{missing[name]}**"
        note = (
            f"\n\n{missing['demo']} Until then the tiny models (random weights) work."
            if missing["demo"]
            else ""
        )
        chosen = page_default(get_model(name)).note
        return f"Model: {get_model(name).description}.{note}" + (f"\n\n{chosen}" if chosen else "")

    def form(values: Form) -> Request:
        if missing.get(values.model):
            raise InputError(missing[values.model])
        with page_errors("Loading the model"):
            model_spec = session.load(values.model)[0]
        return parse_form(values, model_spec)

    with gr.Blocks(title="dit-accel: dense vs sparse attention", analytics_enabled=False) as demo:
        gr.Markdown(
            "# dit-accel: dense vs sparse attention\nOne click generates the dense reference and the "
            "accelerated video from the same seed and compares them."
        )
        status_md = gr.Markdown(status(model))
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                model_in = gr.Dropdown([(c.label, c.name) for c in choices], value=model, label="Model")
                prompt_in = gr.Textbox(spec.prompts[0], label="Prompt", lines=2)
                gr.Examples([[p] for p in spec.prompts], [prompt_in], label=f"Example prompts for {model}")
                method_in = gr.Dropdown(list(METHODS), value=first.method, label="Method")
                with gr.Row():
                    budget_in = gr.Radio(
                        list(BUDGETS), value=knobs["budget"], label="Budget", visible=shown("budget")
                    )
                    amount_in = gr.Slider(
                        0.01, 1.0, knobs["amount"], step=0.01, label="Share", visible=shown("budget")
                    )
                decay_in = gr.Slider(
                    0.01, 2.0, knobs["decay"], step=0.01, label="Radial decay", visible=shown("decay")
                )
                order_in = gr.Radio(
                    list(ORDERS), value=knobs["order"], label="Token order", visible=shown("order")
                )
                block_in = gr.Dropdown(
                    list(BLOCK_SIZES), value=knobs["block_size"], label="Block size (tokens)"
                )
                dense_steps_in = gr.Slider(
                    0, 1, knobs["dense_steps"], step=0.05, label="Dense warm-up (share of steps)"
                )
                with gr.Row():
                    dense_layers_in = gr.Number(
                        knobs["dense_layers"], precision=0, minimum=0, label="Dense first layers"
                    )
                    refresh_in = gr.Number(
                        knobs["refresh_every"], precision=0, minimum=1, label="Refresh every (steps)"
                    )
                with gr.Accordion("More options", open=False):
                    extra_in = gr.Textbox(
                        first.extra_options,
                        label="Extra method options",
                        placeholder="key=value; ...  e.g. window=(3, 8, 8); sink=False",
                    )
                    guidance_in = gr.Number(spec.guidance, label="Guidance scale")
                with gr.Row():
                    seed_in = gr.Number(0, precision=0, minimum=0, label="Seed")
                    steps_in = gr.Slider(1, 100, spec.steps, step=1, label="Steps", elem_id="steps")
                with gr.Row():
                    height_in = gr.Number(spec.height, precision=0, minimum=1, label="Height")
                    width_in = gr.Number(spec.width, precision=0, minimum=1, label="Width")
                    frames_in = gr.Number(first.frames or spec.frames, precision=0, minimum=1, label="Frames")
                with gr.Row():
                    generate_btn = gr.Button("Generate", variant="primary", elem_id="generate")
                    sweep_btn = gr.Button("Sweep")
            with gr.Column(scale=2):
                with gr.Row():
                    dense_out = gr.Video(
                        label="Dense reference", height=320, autoplay=True, loop=True, elem_id="dense"
                    )
                    accel_out = gr.Video(
                        label="Accelerated", height=320, autoplay=True, loop=True, elem_id="accelerated"
                    )
                metrics_out = gr.Markdown("Press **Generate**.", elem_id="metrics")
                with gr.Row():
                    layer_in = gr.Number(1, precision=0, minimum=0, label="Layout: layer")
                    head_in = gr.Number(0, precision=0, minimum=0, label="Layout: head")
                layout_out = gr.Image(
                    label="Attention layout", format="png", type="pil", height=460, elem_id="layout"
                )
                with gr.Accordion("Numbers (JSON)", open=False):
                    metrics_json = gr.JSON(label="Metrics")
                sweep_out = gr.Image(label="Sweep: quality vs speedup", format="png", type="pil")
                sweep_table = gr.Dataframe(headers=COLUMNS, label="Sweep", interactive=False)
        view_state = gr.State(None)

        settings = [
            model_in, prompt_in, method_in, budget_in, amount_in, decay_in, order_in, block_in,
            dense_steps_in, dense_layers_in, refresh_in, extra_in, seed_in, steps_in,
            height_in, width_in, frames_in, guidance_in,
        ]  # fmt: skip
        knob_outputs = [budget_in, amount_in, decay_in, order_in, block_in, dense_steps_in, dense_layers_in]

        def handler(
            names: list[str], what: str, run: Callable[[Request, Progress], tuple]
        ) -> Callable[..., tuple]:
            """`run` as an event handler: its arguments are the Form fields `names` (the API's argument names)
            and a progress bar; bad input and failures of `run` (named by `what`) become page messages."""

            def handle(*values: Any) -> tuple:
                *fields, progress = values
                with page_errors("Input"):
                    request = form(Form(*fields))
                with page_errors(what):
                    return run(request, lambda f, d: progress(f, desc=d))

            # Gradio names the arguments from the signature and fills the one whose default is a Progress.
            tracker = inspect.Parameter(
                "progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress(track_tqdm=True)
            )
            arguments = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
            handle.__signature__ = inspect.Signature([*arguments, tracker])
            handle.__name__, handle.__doc__ = run.__name__, run.__doc__
            return handle

        def generate(request: Request, progress: Progress) -> tuple:
            """Dense reference and accelerated video, their metrics and the attention layout picture."""
            result = session.compare(request, progress)
            return (
                str(result.dense.path),
                str(result.accelerated.path),
                metrics_markdown(result.metrics),
                layout_image(result.view, request.layer, request.head),
                result.metrics,
                result.view,
            )

        def sweep(request: Request, progress: Progress) -> tuple:
            """Quality vs speedup of the method at several values of its main knob."""
            points = run_sweep(session, request, progress)
            title = f"{request.setting.method} on {request.model}, {request.steps} steps"
            return sweep_plot(points, title), sweep_rows(points)

        def show_layout(view: LayoutView | None, layer: int, head: int) -> Any:
            if view is None:
                return gr.update()
            with page_errors("Drawing the layout"):
                if layer is None or head is None:
                    return message_image("Choose a layer and a head.")
                return layout_image(view, int(layer), int(head))

        def on_model(name: str, method: str) -> list[Any]:
            new = get_model(name)
            sizes = [new.height, new.width, page_default(new).frames or new.frames, new.steps, new.guidance]
            return [status(name), *sizes, *_knob_updates(name, method)]

        generate_btn.click(
            handler(GENERATE_ARGS, "Generation", generate),
            [*settings, layer_in, head_in],
            [dense_out, accel_out, metrics_out, layout_out, metrics_json, view_state],
            api_name="generate",
            concurrency_id="model",
        )
        sweep_btn.click(
            handler(SWEEP_ARGS, "Sweep", sweep),
            settings,
            [sweep_out, sweep_table],
            api_name="sweep",
            concurrency_id="model",
        )
        for trigger in (layer_in.change, head_in.change):
            trigger(
                show_layout,
                [view_state, layer_in, head_in],
                layout_out,
                api_visibility="private",
                queue=False,
            )
        model_in.change(
            on_model,
            [model_in, method_in],
            [status_md, height_in, width_in, frames_in, steps_in, guidance_in, *knob_outputs],
            api_visibility="private",
            queue=False,
        )
        method_in.change(
            _knob_updates, [model_in, method_in], knob_outputs, api_visibility="private", queue=False
        )
    return demo
