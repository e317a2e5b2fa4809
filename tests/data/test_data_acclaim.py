"""ASF/AMC reading: a small written skeleton and motion read back exactly; every defect named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from plausible.data.acclaim import MotionFileError, amc_channels, read_amc, read_asf, read_motion

ASF = """# a three-bone skeleton
:version 1.10
:name tiny
:units
  mass 1.0
  length 0.45
  angle deg
:documentation
  written by the test
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name spine
     direction 0 1 0
     length 2.5
     axis 0 0 0  XYZ
    dof rx ry rz
    limits (-10.0 10.0)
           (-20.0 20.0)
           (-inf inf)
  end
  begin
     id 2
     name arm
     direction 1 0 0
     length 1.5
     axis 0 0 20  XZY
    dof rz
    limits (-90.0 90.0)
  end
  begin
     id 3
     name hand
     direction 1 0 0
     length 0.5
     axis 0 0 0  XYZ
  end
  begin
     id 4
     name leg
     direction 0 -1 0
     length 3.0
     axis 0 0 0 XYZ
    dof rx rz
    limits (-45.0 90.0) (-70.0 20.0)
  end
:hierarchy
  begin
    root spine leg
    spine arm
    arm hand
  end
"""

# The first frame lists the bones in an order of its own (leg before spine): columns follow it.
AMC = """#!OML:ASF tiny.asf
:FULLY-SPECIFIED
:DEGREES
1
root 1 2 3 4 5 6
leg 7 8
spine 9 10 11
arm 12
2
root -1 -2 -3 -4 -5 -6
leg -7 -8
spine -9 -10 -11
arm -12
3
root 0.5 1e-3 -2.5e2 0 0 0
arm 3.25
leg 1 2
spine 3 4 5
"""

EXPECTED = [
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    [-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12],
    [0.5, 1e-3, -250, 0, 0, 0, 1, 2, 3, 4, 5, 3.25],
]


def _write(
    tmp_path: Path, asf: str = ASF, amc: str = AMC, *, crlf: bool = False
) -> tuple[Path, Path]:
    newline = "\r\n" if crlf else "\n"
    asf_path, amc_path = tmp_path / "tiny.asf", tmp_path / "tiny.amc"
    asf_path.write_bytes(asf.replace("\n", newline).encode())
    amc_path.write_bytes(amc.replace("\n", newline).encode())
    return asf_path, amc_path


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_written_files_read_back_exactly(tmp_path: Path, crlf: bool) -> None:
    asf_path, amc_path = _write(tmp_path, crlf=crlf)
    skeleton = read_asf(asf_path)
    assert skeleton.name == "tiny"
    assert skeleton.units == {"mass": "1.0", "length": "0.45", "angle": "deg"}
    assert skeleton.root_order == ("tx", "ty", "tz", "rx", "ry", "rz")
    assert list(skeleton.bones) == ["spine", "arm", "hand", "leg"]
    spine, arm, hand, leg = skeleton.bones.values()
    assert spine.dof == ("rx", "ry", "rz") and spine.length == 2.5 and spine.id == 1
    assert spine.limits == ((-10.0, 10.0), (-20.0, 20.0), (-float("inf"), float("inf")))
    assert arm.axis == (0.0, 0.0, 20.0) and arm.axis_order == "XZY" and arm.limits == ((-90, 90),)
    assert hand.dof == () and hand.limits == ()
    assert leg.dof == ("rx", "rz") and leg.limits == ((-45.0, 90.0), (-70.0, 20.0))
    assert skeleton.hierarchy == {"root": ("spine", "leg"), "spine": ("arm",), "arm": ("hand",)}

    frames = read_amc(amc_path, skeleton)
    assert frames.dtype == torch.float64
    assert torch.equal(frames, torch.tensor(EXPECTED, dtype=torch.float64))
    assert amc_channels(amc_path, skeleton) == (
        *(f"root.{c}" for c in ("tx", "ty", "tz", "rx", "ry", "rz")),
        "leg.rx",
        "leg.rz",
        "spine.rx",
        "spine.ry",
        "spine.rz",
        "arm.rz",
    )
    motion = read_motion(asf_path, amc_path)
    assert motion.dtype == torch.float32
    assert torch.equal(motion, torch.tensor(EXPECTED, dtype=torch.float32))


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _line_of(text: str, needle: str) -> int:
    """1-based number of the only line holding ``needle``."""
    hits = [i for i, line in enumerate(text.split("\n"), 1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def _last_line(text: str) -> int:
    return len(text.rstrip("\n").split("\n"))


# Each case: the broken ASF text, the line the error must name, and what it must say.
AsfCase = Callable[[], tuple[str, int, str]]


def _asf_no_root() -> tuple[str, int, str]:
    text = ASF.replace(":root\n", ":rooot\n")
    return text, _last_line(text), "no :root section"


def _asf_no_bonedata() -> tuple[str, int, str]:
    text = ASF.split(":bonedata")[0]
    return text, _last_line(text), "no :bonedata section"


def _asf_bone_without_length() -> tuple[str, int, str]:
    text = _replace(ASF, "     length 1.5\n", "")
    return text, _line_of(text, "name arm") - 2, "has no length"


def _asf_direction_not_a_number() -> tuple[str, int, str]:
    text = _replace(ASF, "direction 0 -1 0", "direction 0 -1 zero")
    return text, _line_of(text, "direction 0 -1 zero"), "must be a number, got 'zero'"


def _asf_limits_do_not_match_dof() -> tuple[str, int, str]:
    text = _replace(ASF, "    dof rx rz\n", "    dof rx ry rz\n")
    return text, _line_of(text, "(-45.0 90.0)"), "3 degrees of freedom but 2 limits"


def _asf_unknown_dof() -> tuple[str, int, str]:
    text = _replace(ASF, "    dof rz\n", "    dof rq\n")
    return text, _line_of(text, "dof rq"), "dof must name distinct channels"


def _asf_bone_defined_twice() -> tuple[str, int, str]:
    text = _replace(ASF, "name hand", "name arm")
    return text, _line_of(text, "id 3") - 1, "bone arm is defined twice"


def _asf_block_without_end() -> tuple[str, int, str]:
    text = _replace(
        ASF, "    limits (-45.0 90.0) (-70.0 20.0)\n  end\n", "    limits (-45 90) (-70 20)\n"
    )
    return text, _line_of(text, "id 4") - 1, "has no 'end'"


def _asf_hierarchy_names_undefined_bone() -> tuple[str, int, str]:
    text = _replace(ASF, "    arm hand\n", "    arm finger\n")
    return text, _line_of(text, "arm finger"), "names finger, which :bonedata does not define"


def _asf_root_order_incomplete() -> tuple[str, int, str]:
    text = _replace(ASF, "order TX TY TZ RX RY RZ", "order TX TY TZ RX RY")
    return text, _line_of(text, "order TX"), "root order must list TX TY TZ RX RY RZ"


ASF_CASES: dict[str, AsfCase] = {
    f.__name__.removeprefix("_asf_"): f
    for f in (
        _asf_no_root,
        _asf_no_bonedata,
        _asf_bone_without_length,
        _asf_direction_not_a_number,
        _asf_limits_do_not_match_dof,
        _asf_unknown_dof,
        _asf_bone_defined_twice,
        _asf_block_without_end,
        _asf_hierarchy_names_undefined_bone,
        _asf_root_order_incomplete,
    )
}


@pytest.mark.parametrize("case", list(ASF_CASES), ids=str)
def test_malformed_asf_names_file_and_line(tmp_path: Path, case: str) -> None:
    text, line, what = ASF_CASES[case]()
    asf_path, _ = _write(tmp_path, asf=text)
    with pytest.raises(MotionFileError) as info:
        read_asf(asf_path)
    err = info.value
    assert (err.path, err.line) == (asf_path, line), str(err)
    assert str(err).startswith(f"{asf_path}, line {line}: ")
    assert what in str(err)


def _amc_unknown_bone() -> tuple[str, int, str]:
    text = _replace(AMC, "arm -12\n", "wing -12\n")
    return text, _line_of(text, "wing"), "moves bone 'wing', which tiny.asf does not define"


def _amc_too_few_values() -> tuple[str, int, str]:
    text = _replace(AMC, "spine -9 -10 -11\n", "spine -9 -10\n")
    return text, _line_of(text, "spine -9 -10"), "bone spine needs 3 values (rx ry rz), got 2"


def _amc_root_too_many_values() -> tuple[str, int, str]:
    text = _replace(AMC, "root 1 2 3 4 5 6\n", "root 1 2 3 4 5 6 7\n")
    return text, _line_of(text, "root 1 2"), "bone root needs 6 values"


def _amc_not_a_number() -> tuple[str, int, str]:
    text = _replace(AMC, "leg 1 2\n", "leg 1 two\n")
    return text, _line_of(text, "leg 1 two"), "a value of leg must be a number, got 'two'"


def _amc_nan() -> tuple[str, int, str]:
    text = _replace(AMC, "arm 12\n", "arm nan\n")
    return text, _line_of(text, "arm nan"), "must be a finite number, got 'nan'"


def _amc_frames_out_of_order() -> tuple[str, int, str]:
    text = _replace(AMC, "\n3\n", "\n4\n")
    return text, _line_of(text, "arm 3.25") - 2, "frame 4 follows frame 2"


def _amc_frame_repeated() -> tuple[str, int, str]:
    text = _replace(AMC, "\n2\n", "\n1\n")
    return text, _line_of(text, "root -1") - 1, "frame 1 follows frame 1"


def _amc_first_frame_not_one() -> tuple[str, int, str]:
    text = _replace(AMC, "DEGREES\n1\n", "DEGREES\n0\n")
    return text, _line_of(text, "root 1 2") - 1, "frames are numbered from 1, got 0"


def _amc_bone_missing_from_a_frame() -> tuple[str, int, str]:
    text = _replace(AMC, "leg -7 -8\n", "")
    return text, _line_of(text, "root -1") - 1, "frame 2 lacks leg"


def _amc_bone_given_twice() -> tuple[str, int, str]:
    text = _replace(AMC, "arm 3.25\n", "arm 3.25\narm 3.5\n")
    return text, _line_of(text, "arm 3.5"), "frame 3 gives bone arm twice"


def _amc_values_before_first_frame() -> tuple[str, int, str]:
    text = _replace(AMC, ":DEGREES\n", ":DEGREES\nroot 0 0 0 0 0 0\n")
    return text, _line_of(text, "root 0 0 0"), "before the first frame number"


def _amc_empty() -> tuple[str, int, str]:
    return "", 1, "holds no frames"


def _amc_header_only() -> tuple[str, int, str]:
    text = "#!OML:ASF tiny.asf\n:FULLY-SPECIFIED\n:DEGREES\n"
    return text, 3, "holds no frames"


AMC_CASES: dict[str, AsfCase] = {
    f.__name__.removeprefix("_amc_"): f
    for f in (
        _amc_unknown_bone,
        _amc_too_few_values,
        _amc_root_too_many_values,
        _amc_not_a_number,
        _amc_nan,
        _amc_frames_out_of_order,
        _amc_frame_repeated,
        _amc_first_frame_not_one,
        _amc_bone_missing_from_a_frame,
        _amc_bone_given_twice,
        _amc_values_before_first_frame,
        _amc_empty,
        _amc_header_only,
    )
}


@pytest.mark.parametrize("case", list(AMC_CASES), ids=str)
def test_malformed_amc_names_file_and_line(tmp_path: Path, case: str) -> None:
    text, line, what = AMC_CASES[case]()
    asf_path, amc_path = _write(tmp_path, amc=text)
    with pytest.raises(MotionFileError) as info:
        read_motion(asf_path, amc_path)
    err = info.value
    assert (err.path, err.line) == (amc_path, line), str(err)
    assert str(err).startswith(f"{amc_path}, line {line}: ")
    assert what in str(err)


def test_motion_file_error_is_a_value_error() -> None:
    assert issubclass(MotionFileError, ValueError)
