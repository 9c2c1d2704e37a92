"""TokenGrid: the token layout of one attention call after patchify."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenGrid:
    """`frames x height x width` video tokens in frame-major order (`f*H*W + h*W + w`), plus
    `text_len` text tokens placed before (`text_first=True`) or after the video tokens."""

    frames: int
    height: int
    width: int
    text_len: int = 0
    text_first: bool = False

    def __post_init__(self) -> None:
        for name in ("frames", "height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TokenGrid {name} must be a positive integer, got {value!r}")
        if not isinstance(self.text_len, int) or self.text_len < 0:
            raise ValueError(f"TokenGrid text_len must be a non-negative integer, got {self.text_len!r}")

    @property
    def tokens_per_frame(self) -> int:
        return self.height * self.width

    @property
    def video_len(self) -> int:
        return self.frames * self.height * self.width

    @property
    def seq_len(self) -> int:
        return self.video_len + self.text_len

    @property
    def video_start(self) -> int:
        """Index of the first video token in the sequence."""
        return self.text_len if self.text_first else 0

    @property
    def video_slice(self) -> slice:
        return slice(self.video_start, self.video_start + self.video_len)

    @property
    def text_slice(self) -> slice:
        if self.text_first:
            return slice(0, self.text_len)
        return slice(self.video_len, self.seq_len)

    def check(self, seq_len: int) -> None:
        """Raise ValueError unless this grid describes a sequence of `seq_len` tokens."""
        if seq_len != self.seq_len:
            raise ValueError(
                f"grid {self} describes {self.seq_len} tokens "
                f"({self.frames}x{self.height}x{self.width} video + {self.text_len} text) but the "
                f"sequence has {seq_len}"
            )
