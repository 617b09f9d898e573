"""Names on a board: masked as the programme chooses."""

from __future__ import annotations

import pytest

from app.leaderboards.masking import NameMask, masked_name


@pytest.mark.parametrize(
    "name,mask,shown",
    [
        ("张小明", NameMask.MIDDLE, "张*明"),
        ("欧阳娜娜", NameMask.MIDDLE, "欧*娜"),
        ("李娜", NameMask.MIDDLE, "李*"),
        ("王", NameMask.MIDDLE, "王*"),
        ("Alice Smith", NameMask.MIDDLE, "A*h"),
        ("张小明", NameMask.INITIAL, "张**"),
        ("张小明", NameMask.HIDDEN, "会员 2345"),
        (None, NameMask.MIDDLE, "会员 2345"),
        ("   ", NameMask.INITIAL, "会员 2345"),
    ],
)
def test_names_are_masked(name: str | None, mask: NameMask, shown: str) -> None:
    assert masked_name(name, 12345, mask) == shown
