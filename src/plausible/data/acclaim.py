"""Acclaim motion capture: a validated reader of ASF skeletons and AMC motions.

An ASF file declares a skeleton: ``:units``, ``:root`` (``order`` of its six channels,
``axis``, ``position``, ``orientation``), ``:bonedata`` (one ``begin ... end`` block per bone with
``id``, ``name``, ``direction``, ``length``, ``axis``, and for a moving bone ``dof`` and one
``limits`` pair per degree of freedom) and ``:hierarchy`` (lines ``parent child child ...``).
An AMC file holds the motion: header lines starting with ``#`` or ``:``, then frames, each a line
with the frame number followed by lines ``bone value value ...``, one value per degree of
freedom the ASF gives that bone (``root``: one per channel of its ``order``).

:func:`read_motion` gives the frames as one ``(N, C)`` tensor: the root's channels, then each
bone's degrees of freedom in the order the AMC lists the bones in its first frame (62 channels
for the standard CMU skeleton). Every defect stops the reader with a :class:`MotionFileError`
that names the file, the line and what is wrong, because a silently shifted channel would
corrupt every frame after it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

__all__ = [
    "Bone",
    "MotionFileError",
    "Skeleton",
    "amc_channels",
    "read_amc",
    "read_asf",
    "read_motion",
]

_DOFS = ("rx", "ry", "rz", "tx", "ty", "tz", "l")
_ROOT_CHANNELS = ("tx", "ty", "tz", "rx", "ry", "rz")
_ROOT = "root"
_LIMITS = re.compile(r"\(([^()]*)\)")


class MotionFileError(ValueError):
    """An ASF or AMC file that does not follow the format.

    Attributes:
        path: The file.
        line: 1-based line number of the defect.
        problem: What is wrong there.
    """

    def __init__(self, path: str | Path, line: int, problem: str) -> None:
        super().__init__(f"{path}, line {line}: {problem}")
        self.path = Path(path)
        self.line = int(line)
        self.problem = problem


@dataclass(frozen=True)
class Bone:
    """One bone of an ASF skeleton.

    Attributes:
        name: The bone's name, as AMC frames refer to it.
        id: Its ``id``.
        direction: Unit vector from its start to its end in the rest pose.
        length: Length in the file's length unit.
        axis: Rotation of its local frame, in the file's angle unit.
        axis_order: Order of the rotations of ``axis``, e.g. ``"XYZ"``.
        dof: Degrees of freedom, in file order (``rx``, ``ry``, ``rz``, ``tx``, ``ty``, ``tz``,
            ``l``); empty for a bone that does not move.
        limits: One ``(low, high)`` per degree of freedom (may be infinite).
    """

    name: str
    id: int
    direction: tuple[float, float, float]
    length: float
    axis: tuple[float, float, float]
    axis_order: str
    dof: tuple[str, ...] = ()
    limits: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Skeleton:
    """What an ASF file declares.

    Attributes:
        path: The file it came from.
        name: ``:name`` (empty when absent).
        units: ``:units`` entries, e.g. ``{"mass": "1.0", "length": "0.45", "angle": "deg"}``.
        root_order: The root's channels in the order AMC frames give them, lower case.
        root_axis: Order of the root's rotations, e.g. ``"XYZ"``.
        root_position: Rest position of the root.
        root_orientation: Rest orientation of the root.
        bones: Bones by name, in file order.
        hierarchy: Children of each parent (``root`` included), in file order.
    """

    path: Path
    name: str
    units: dict[str, str]
    root_order: tuple[str, ...]
    root_axis: str
    root_position: tuple[float, float, float]
    root_orientation: tuple[float, float, float]
    bones: dict[str, Bone]
    hierarchy: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def dof(self, bone: str) -> tuple[str, ...]:
        """The channels an AMC frame gives ``bone`` (``root``: the root's order)."""
        return self.root_order if bone == _ROOT else self.bones[bone].dof


def _lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(line number, tokens)`` of every non-blank line; ``#`` starts a comment line."""
    # Latin-1 decodes any byte, so a stray accent in a comment cannot stop the reader; the
    # format's own words and numbers are ASCII.
    text = path.read_text(encoding="latin-1")
    for number, line in enumerate(text.split("\n"), 1):  # str.splitlines also splits at \x0c
        tokens = line.split()
        if tokens and not tokens[0].startswith("#"):
            yield number, tokens


def _number(path: Path, line: int, token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise MotionFileError(path, line, f"{what} must be a number, got {token!r}") from None
    if not math.isfinite(value):
        raise MotionFileError(path, line, f"{what} must be a finite number, got {token!r}")
    return value


def _triple(path: Path, line: int, tokens: list[str], what: str) -> tuple[float, float, float]:
    if len(tokens) < 3:
        raise MotionFileError(path, line, f"{what} needs 3 numbers, got {len(tokens)}")
    x, y, z = (_number(path, line, t, what) for t in tokens[:3])
    return x, y, z


def _limit(path: Path, line: int, text: str) -> tuple[float, float]:
    """One ``(low high)`` pair; ``inf`` and ``-inf`` are allowed here and only here."""
    parts = text.split()
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise MotionFileError(
            path, line, f"a limit must be '(low high)' with two numbers, got '({text})'"
        ) from None
    if math.isnan(low) or math.isnan(high) or low > high:
        raise MotionFileError(path, line, f"the limit ({text}) is not a range low <= high")
    return low, high


class _BoneBlock:
    """The fields of one ``begin ... end`` block as they are read."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.fields: dict[str, tuple[int, list[str]]] = {}
        self.limit_text = ""
        self.limit_line = line

    def build(self, path: Path) -> Bone:
        for key in ("id", "name", "direction", "length", "axis"):
            if key not in self.fields:
                raise MotionFileError(path, self.line, f"the bone that begins here has no {key}")
        line, tokens = self.fields["name"]
        if len(tokens) != 1:
            raise MotionFileError(path, line, f"a bone name is one word, got {' '.join(tokens)}")
        name = tokens[0]
        if name == _ROOT:
            raise MotionFileError(path, line, "a bone may not be named root")
        line, tokens = self.fields["id"]
        try:
            (bone_id,) = (int(t) for t in tokens)
        except ValueError:
            raise MotionFileError(
                path, line, f"id must be one integer, got {' '.join(tokens) or 'nothing'}"
            ) from None
        line, tokens = self.fields["length"]
        if len(tokens) != 1:
            raise MotionFileError(path, line, f"length needs 1 number, got {len(tokens)}")
        length = _number(path, line, tokens[0], "length")
        direction = _triple(path, *self.fields["direction"], "direction")
        line, tokens = self.fields["axis"]
        axis = _triple(path, line, tokens, "axis")
        order = tokens[3].upper() if len(tokens) > 3 else "XYZ"
        if sorted(order) != ["X", "Y", "Z"]:
            raise MotionFileError(path, line, f"axis order must permute XYZ, got {order}")
        dof: tuple[str, ...] = ()
        if "dof" in self.fields:
            line, tokens = self.fields["dof"]
            dof = tuple(t.lower() for t in tokens)
            bad = [t for t in dof if t not in _DOFS]
            if bad or len(set(dof)) != len(dof):
                raise MotionFileError(
                    path,
                    line,
                    f"dof must name distinct channels among {', '.join(_DOFS)}, got "
                    f"{' '.join(tokens)}",
                )
        limits = self._limits(path)
        if limits and len(limits) != len(dof):
            raise MotionFileError(
                path,
                self.limit_line,
                f"bone {name} has {len(dof)} degrees of freedom but {len(limits)} limits",
            )
        return Bone(name, bone_id, direction, length, axis, order, dof, limits)

    def _limits(self, path: Path) -> tuple[tuple[float, float], ...]:
        text = self.limit_text.strip()
        if _LIMITS.sub("", text).strip():
            raise MotionFileError(
                path, self.limit_line, f"limits must be pairs '(low high)', got {text}"
            )
        return tuple(_limit(path, self.limit_line, p) for p in _LIMITS.findall(text))


def read_asf(path: str | Path) -> Skeleton:
    """Read an ASF skeleton.

    Args:
        path: The ``.asf`` file.

    Returns:
        The skeleton: units, the root's channel order, the bones in file order and the hierarchy.

    Raises:
        MotionFileError: A missing ``:root`` or ``:bonedata`` section, a root without a
            six-channel ``order``, a bone block without one of its fields, a repeated bone name,
            a non-number, limits that do not match the ``dof``, a hierarchy naming an
            undefined bone; the message names the file and the line.
    """
    path = Path(path)
    section = ""
    seen: dict[str, int] = {}
    name, units, root = "", {}, {}
    blocks: list[_BoneBlock] = []
    block: _BoneBlock | None = None
    hierarchy: dict[str, tuple[str, ...]] = {}
    hierarchy_lines: dict[str, int] = {}
    in_hierarchy_block, last = False, 0
    for line, tokens in _lines(path):
        last = line
        head = tokens[0]
        if head.startswith(":"):
            if block is not None:
                raise MotionFileError(
                    path, block.line, f"the bone block that begins here has no 'end' before {head}"
                )
            section = head[1:].lower()
            if section in seen and section in ("root", "bonedata", "hierarchy"):
                raise MotionFileError(path, line, f":{section} appears twice")
            seen[section] = line
            if section == "name":
                name = " ".join(tokens[1:])
            continue
        key = head.lower()
        if section == "units" and len(tokens) == 2:
            units[key] = tokens[1]
        elif section == "root":
            root[key] = (line, tokens[1:])
        elif section == "bonedata":
            if key == "begin":
                if block is not None:
                    raise MotionFileError(path, line, "'begin' inside a bone block")
                block = _BoneBlock(line)
            elif block is None:
                raise MotionFileError(path, line, f"{head!r} outside a begin ... end block")
            elif key == "end":
                blocks.append(block)
                block = None
            elif key == "limits":
                block.limit_line, block.limit_text = line, " ".join(tokens[1:])
            elif key in ("id", "name", "direction", "length", "axis", "dof"):
                block.fields[key] = (line, tokens[1:])
            elif head.startswith("("):  # a further line of limits
                block.limit_text += " " + " ".join(tokens)
            else:
                block.fields[key] = (line, tokens[1:])  # e.g. bodymass, cofmass: kept unread
        elif section == "hierarchy":
            if key == "begin":
                in_hierarchy_block = True
            elif key == "end":
                in_hierarchy_block = False
            elif in_hierarchy_block:
                hierarchy[tokens[0]] = hierarchy.get(tokens[0], ()) + tuple(tokens[1:])
                hierarchy_lines.setdefault(tokens[0], line)
    if block is not None:
        raise MotionFileError(path, block.line, "the bone block that begins here has no 'end'")
    for required in ("root", "bonedata"):
        if required not in seen:
            raise MotionFileError(
                path, max(last, 1), f"no :{required} section (is this an ASF skeleton file?)"
            )
    bones: dict[str, Bone] = {}
    for b in blocks:
        bone = b.build(path)
        if bone.name in bones:
            raise MotionFileError(path, b.line, f"bone {bone.name} is defined twice")
        bones[bone.name] = bone
    order, axis, position, orientation = _root(path, seen["root"], root)
    for parent, children in hierarchy.items():
        for bone_name in (parent, *children):
            if bone_name != _ROOT and bone_name not in bones:
                raise MotionFileError(
                    path,
                    hierarchy_lines[parent],
                    f"the hierarchy names {bone_name}, which :bonedata does not define",
                )
    return Skeleton(path, name, units, order, axis, position, orientation, bones, hierarchy)


def _root(
    path: Path, line: int, root: dict[str, tuple[int, list[str]]]
) -> tuple[tuple[str, ...], str, tuple[float, float, float], tuple[float, float, float]]:
    if "order" not in root:
        raise MotionFileError(path, line, ":root has no 'order' line")
    order_line, tokens = root["order"]
    order = tuple(t.lower() for t in tokens)
    if sorted(order) != sorted(_ROOT_CHANNELS):
        raise MotionFileError(
            path, order_line, f"the root order must list TX TY TZ RX RY RZ once each, got {tokens}"
        )
    axis = "XYZ"
    if "axis" in root:
        axis_line, tokens = root["axis"]
        axis = "".join(tokens).upper()
        if sorted(axis) != ["X", "Y", "Z"]:
            raise MotionFileError(path, axis_line, f"the root axis must permute XYZ, got {axis}")
    position = _triple(path, *root["position"], "position") if "position" in root else (0, 0, 0)
    orientation = (
        _triple(path, *root["orientation"], "orientation") if "orientation" in root else (0, 0, 0)
    )
    return order, axis, position, orientation


def _frames(path: Path, asf: Skeleton) -> Iterator[tuple[int, int, dict[str, list[float]]]]:
    """``(frame number, its line, {bone: values})`` of every frame, each line checked."""
    number = frame_line = 0
    values: dict[str, list[float]] | None = None
    for line, tokens in _lines(path):
        head = tokens[0]
        if head.startswith(":"):
            if values is not None:
                raise MotionFileError(path, line, f"header line {head} after the first frame")
            continue
        if len(tokens) == 1 and head.isdigit():
            if values is not None:
                yield number, frame_line, values
            number, frame_line, values = int(head), line, {}
            continue
        if values is None:
            raise MotionFileError(
                path, line, f"{head!r} comes before the first frame number (a line holding one)"
            )
        if head != _ROOT and head not in asf.bones:
            raise MotionFileError(
                path,
                line,
                f"frame {number} moves bone {head!r}, which {asf.path.name} does not define",
            )
        dof = asf.dof(head)
        if len(tokens) - 1 != len(dof):
            raise MotionFileError(
                path,
                line,
                f"bone {head} needs {len(dof)} values ({' '.join(dof) or 'none'}), got "
                f"{len(tokens) - 1}",
            )
        if head in values:
            raise MotionFileError(path, line, f"frame {number} gives bone {head} twice")
        values[head] = [_number(path, line, t, f"a value of {head}") for t in tokens[1:]]
    if values is not None:
        yield number, frame_line, values


def _parse_amc(
    path: Path, asf: Skeleton, *, first_only: bool
) -> tuple[list[str], list[list[float]]]:
    bones: list[str] = []
    rows: list[list[float]] = []
    previous = 0
    for number, line, values in _frames(path, asf):
        if not rows:
            if number < 1:
                raise MotionFileError(path, line, f"frames are numbered from 1, got {number}")
            if _ROOT not in values:
                raise MotionFileError(path, line, f"frame {number} does not give the root")
            bones = [_ROOT, *(b for b in values if b != _ROOT)]
        elif number != previous + 1:
            raise MotionFileError(
                path,
                line,
                f"frame {number} follows frame {previous}; frames must be numbered 1, 2, 3, ...",
            )
        missing = [b for b in bones if b not in values]
        extra = [b for b in values if b not in bones]
        if missing or extra:
            raise MotionFileError(
                path,
                line,
                f"frame {number} "
                + (f"lacks {', '.join(missing)}" if missing else "")
                + (" and " if missing and extra else "")
                + (f"gives {', '.join(extra)}, which frame 1 does not" if extra else ""),
            )
        rows.append([v for b in bones for v in values[b]])
        previous = number
        if first_only:
            break
    if not rows:
        last = sum(1 for _ in path.open("rb")) if path.is_file() else 0
        raise MotionFileError(path, max(last, 1), "the file holds no frames")
    return bones, rows


def read_amc(path: str | Path, asf: Skeleton) -> Tensor:
    """Read the frames of an AMC motion.

    Args:
        path: The ``.amc`` file.
        asf: Its skeleton (:func:`read_asf`).

    Returns:
        ``(N, C)`` float64 values in the file's units (usually degrees and the ASF's length
        unit): the root's channels in its ``order``, then each bone's ``dof`` in the order the
        first frame lists the bones. :func:`amc_channels` names the columns.

    Raises:
        MotionFileError: No frames, a line before the first frame number, a bone the ASF does not
            define, a wrong number of values, a value that is not a finite number, a bone given
            twice in a frame or missing from one, frames out of order or missing; the message
            names the file and the line.
    """
    _, rows = _parse_amc(Path(path), asf, first_only=False)
    return torch.tensor(rows, dtype=torch.float64)


def amc_channels(path: str | Path, asf: Skeleton) -> tuple[str, ...]:
    """Names ``bone.dof`` of the columns :func:`read_amc` gives (read from the first frame)."""
    bones, _ = _parse_amc(Path(path), asf, first_only=True)
    return tuple(f"{b}.{d}" for b in bones for d in asf.dof(b))


def read_motion(asf_path: str | Path, amc_path: str | Path) -> Tensor:
    """The frames of an AMC motion read against its ASF skeleton.

    Args:
        asf_path: The skeleton file.
        amc_path: The motion file.

    Returns:
        ``(N, C)`` float32 (C = 62 for the standard CMU skeleton), columns as in :func:`read_amc`.

    Raises:
        MotionFileError: When either file breaks the format (see :func:`read_asf`,
            :func:`read_amc`).
    """
    return read_amc(amc_path, read_asf(asf_path)).float()
