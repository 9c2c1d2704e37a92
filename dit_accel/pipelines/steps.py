"""StepState: the denoising step, branch and generation, followed forward by forward."""

from __future__ import annotations

from dataclasses import dataclass

from diffusers.hooks.hooks import CacheContext


@dataclass
class StepState:
    """Where the denoising loop is. One instance serves all transformers of a pipeline (Wan 2.2's two
    experts share one step count).

    step:       0-based denoising step of the current forward (-1 before the first).
    branch:     the pipeline's cache-context name ("cond", "uncond", "cond_uncond") when it sets one,
                else "forward<i>": the i-th forward at this step.
    generation: counts pipeline calls (new when the pipeline resets its hooks, the step index goes
                back, or the timestep goes up).
    """

    generation: int = -1
    step: int = -1
    branch: str = ""
    timestep: float | None = None
    total_steps: int | None = None
    forwards_at_step: int = 0
    ended: bool = True

    def advance(self, timestep: float | None, context: CacheContext | None) -> bool:
        """Account for one transformer forward; True when it starts a new generation."""
        step_index = context.step_index if context is not None else None
        new = self.ended
        if not new and step_index is not None:
            new = step_index < self.step
        elif not new and timestep is not None and self.timestep is not None:
            new = timestep > self.timestep
        if new:
            self.generation += 1
            self.step, self.timestep, self.ended = -1, None, False
        if step_index is not None:
            same_step = step_index == self.step
            self.step = step_index
        else:
            same_step = self.step >= 0 and timestep == self.timestep
            self.step += 0 if same_step else 1
        self.forwards_at_step = self.forwards_at_step + 1 if same_step else 0
        self.branch = context.name if context is not None else f"forward{self.forwards_at_step}"
        self.timestep = timestep
        return new

    def end(self) -> None:
        """The pipeline call is over: the next forward starts a new generation."""
        self.ended = True
