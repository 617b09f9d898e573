"""How a board shows a member's name to whoever reads it (a widget on a brand's public page
included): masked as the programme chooses, ``JIFEN_LEADERBOARD_NAMES`` (docs/WIDGETS.md).

- ``middle`` (default): the first and the last character, one ``*`` between: 张小明 → 张*明,
  李娜 → 李*, Alice → A*e (one star whatever the length, so the length is not told either);
- ``initial``: the first character only: 张**;
- ``hidden``: no name, 会员 + the member id's last four digits.
Pure: no I/O.
"""

from __future__ import annotations

from enum import StrEnum


class NameMask(StrEnum):
    MIDDLE = "middle"
    INITIAL = "initial"
    HIDDEN = "hidden"


def masked_name(name: str | None, member_id: int, mask: NameMask) -> str:
    shown = (name or "").strip()
    if mask is NameMask.HIDDEN or not shown:
        return f"会员 {str(member_id)[-4:]}"
    if mask is NameMask.INITIAL:
        return f"{shown[0]}**"
    if len(shown) <= 2:
        return f"{shown[0]}*"
    return f"{shown[0]}*{shown[-1]}"
