"""Building blocks of the validated simulator inputs (scenario files, usage profiles).

Every input model forbids unknown keys and is immutable; a validation failure becomes one
:class:`ConfigError` line naming the source, the key path and the problem.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from kernel.errors import ConfigError


class Section(BaseModel):
    """Base of every input model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _ordered(pair: tuple[float, float]) -> tuple[float, float]:
    if pair[0] > pair[1]:
        raise ValueError(f"[low, high] with low <= high, got {list(pair)}")
    return pair


def _ordered_int(pair: tuple[int, int]) -> tuple[int, int]:
    if pair[0] > pair[1]:
        raise ValueError(f"[low, high] with low <= high, got {list(pair)}")
    return pair


# ``[low, high]`` in the TOML: a closed range.
Range = Annotated[tuple[float, float], AfterValidator(_ordered)]
IntRange = Annotated[tuple[int, int], AfterValidator(_ordered_int)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Rate = Annotated[float, Field(ge=0.0)]


def key_path(loc: tuple[int | str, ...]) -> str:
    """``("faults", "dead_zone", "per_vehicle_day")`` → ``faults.dead_zone.per_vehicle_day``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def one_line(source: str, exc: ValidationError, prefix: tuple[str, ...] = ()) -> ConfigError:
    """The first validation error as ``source: key.path: problem``."""
    first = exc.errors()[0]
    loc = tuple(p for p in first["loc"] if not str(p).startswith("function-"))
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    return ConfigError(f"{source}: {key_path(prefix + loc)}: {message}")
