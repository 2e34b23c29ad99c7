"""Profiles whose timezone is CET, MET, EET or WET get the zone the name links to.

PostgreSQL's `AT TIME ZONE 'CET'` takes the timezone abbreviation CET (a fixed +01:00, no summer time)
before the tz database, where CET links to Europe/Brussels: "today" and the streak's expiry of such a
profile were an hour off for seven months a year. The layer now stores these names as their link targets
(models.POSTGRES_ABBREVIATION_LINKS); this gives profiles stored before the same. Practice days already
written stay as they are (history is fixed when written). An UPDATE of the few profiles concerned: no lock
on `attempts`, and it can simply run again.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# As models.POSTGRES_ABBREVIATION_LINKS was when this migration was written (a migration never changes).
LINK_TARGETS = {
    "CET": "Europe/Brussels",
    "MET": "Europe/Brussels",
    "EET": "Europe/Athens",
    "WET": "Europe/Lisbon",
}


def upgrade() -> None:
    for name, target in LINK_TARGETS.items():
        op.execute(f"UPDATE user_profiles SET timezone = '{target}' WHERE timezone = '{name}'")


def downgrade() -> None:
    pass  # the old names gave wrong days; nothing to restore
