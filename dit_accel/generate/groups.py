"""Context-parallel groups of a torchrun launch: `context` ranks make one video together (diffusers'
Ulysses context parallelism), and the world // context groups split the prompts as single processes do."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

T = TypeVar("T")


@dataclass(frozen=True)
class ContextGroups:
    """rank, world: this process and the launch; context: ranks per group (1: no context parallelism)."""

    rank: int
    world: int
    context: int

    @property
    def group(self) -> int:
        return self.rank // self.context

    @property
    def groups(self) -> int:
        return self.world // self.context

    @property
    def leader(self) -> bool:
        """The group's first rank: it decides what to make and writes the files; the others follow."""
        return self.rank % self.context == 0


def context_error(context: int, world: int, accelerators: int) -> str | None:
    """Why `--context-parallel context` cannot run in a launch of `world` processes, or None."""
    if context < 1:
        return f"must be >= 1, got {context}"
    if context == 1:
        return None
    if world % context:
        return f"{context} must divide the number of processes ({world}; torchrun --nproc-per-node sets it)"
    if accelerators == 0:
        return "needs one GPU (or other accelerator) per process; this machine has none"
    return None


class ContextGroup:
    """This rank's group: joins the launch's process group and builds one device mesh (groups x 1 ring x
    context ranks) whose Ulysses dimension is the group."""

    def __init__(self, groups: ContextGroups, device: str) -> None:
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        self.groups = groups
        self.mesh = init_device_mesh(
            torch.device(device).type,
            (groups.groups, 1, groups.context),
            mesh_dim_names=("group", "ring", "ulysses"),
        )

    def from_leader(self, value: T) -> T:
        """The leader's `value` (any picklable object), on every rank of the group."""
        import torch.distributed as dist

        message = [value]
        leader = self.groups.group * self.groups.context
        dist.broadcast_object_list(message, src=leader, group=self.mesh["ulysses"].get_group())
        return message[0]

    def shared(self, batches: Iterator[list[tuple[T, Any]]] | None) -> Iterator[list[tuple[T, Any]]]:
        """The leader's `batches` of (item, claim), made by every rank of the group in the same order:
        the others pass None and get the leader's items with None claims (they write nothing)."""
        while True:
            batch = next(batches, None) if self.groups.leader else None
            items = self.from_leader(None if batch is None else [item for item, _ in batch])
            if items is None:
                return
            yield batch if self.groups.leader else [(item, None) for item in items]

    def enable(self, pipe: Any) -> None:
        """Ulysses context parallelism over the group on every transformer of `pipe` that has a `_cp_plan`."""
        from diffusers import ContextParallelConfig

        for component in pipe.components.values():
            if isinstance(component, torch.nn.Module) and getattr(component, "_cp_plan", None) is not None:
                config = ContextParallelConfig(ulysses_degree=self.groups.context, mesh=self.mesh)
                component.enable_parallelism(config=config)
