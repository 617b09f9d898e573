"""gifts, duels, referrals, teams: no foreign key to the other member's rows; gifts' and duels'
keys carry the member they live with

Revision ID: 0050
Revises: 0045
Create Date: 2026-12-05 15:00:00

Under Citus a row between two members lives on one member's shard (a gift with its sender, a
duel with its challenger, a referral with its friend; app/distribution.py), and a team (a
reference table) on every node: a foreign key to the other member's row, or from the team to
its captain, would cross shards, which Citus refuses (docs/SCALING.md, "Citus").

The pointers stay, without their foreign keys, as migration 0044 did for an order's pointers:

- each is written in the transaction that checked (or wrote) the row it names: the service
  reads and locks both members before a gift or a duel (unknown: NOT_FOUND), an invite code
  names its referrer's profile, a team's captain is checked and joins the team it creates;
  the other member's hold and entries are written in the same transaction as the pointer;
- members, entries and holds are never deleted;
- ``jifen audit`` checks each pointer: a gift's received entry is its recipient's, a duel's
  opponent is a member and its opponent-side hold and entries are the opponent's (or the
  winner's), a hold stakes one duel, a referral's referrer is a member, a team's captain is
  one of its members.

The keys then carry the owning member: gifts ``(id, from_member_id)``, duels
``(id, challenger_id)`` and each of a duel's unique holds with ``challenger_id``. ``id`` stays
first (a lookup by id uses the key's index; the identity keeps it unique). Each key is rebuilt
under its table's ACCESS EXCLUSIVE lock: on a big database, run it in a quiet hour.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0050"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (column, target table, target column): the other member's rows, or a team's captain
POINTERS = {
    "duels": (
        ("opponent_id", "members", "id"),
        ("opponent_hold_id", "holds", "id"),
        ("opponent_reward_entry_id", "entries", "id"),
        ("winnings_entry_id", "entries", "id"),
    ),
    "gifts": (
        ("to_member_id", "members", "id"),
        ("received_entry_id", "entries", "id"),
    ),
    "referrals": (("referrer_id", "members", "id"),),
    "teams": (("captain_id", "members", "id"),),
}

# table -> (key, its kind, its columns before, after)
KEYS = {
    "gifts": (("pk_gifts", "PRIMARY KEY", "id", "id, from_member_id"),),
    "duels": (
        ("pk_duels", "PRIMARY KEY", "id", "id, challenger_id"),
        (
            "uq_duels_challenger_hold_id",
            "UNIQUE",
            "challenger_hold_id",
            "challenger_hold_id, challenger_id",
        ),
        (
            "uq_duels_opponent_hold_id",
            "UNIQUE",
            "opponent_hold_id",
            "opponent_hold_id, challenger_id",
        ),
    ),
}


def _rebuild_keys(*, widened: bool) -> None:
    for table, keys in KEYS.items():
        for name, kind, before, after in keys:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            columns = after if widened else before
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {kind} ({columns})")


def upgrade() -> None:
    for table, pointers in POINTERS.items():
        for column, target, _ in pointers:
            op.drop_constraint(f"fk_{table}_{column}_{target}", table, type_="foreignkey")
    _rebuild_keys(widened=True)


def downgrade() -> None:
    _rebuild_keys(widened=False)
    for table, pointers in POINTERS.items():
        for column, target, target_column in pointers:
            op.create_foreign_key(
                f"fk_{table}_{column}_{target}", table, target, [column], [target_column]
            )
