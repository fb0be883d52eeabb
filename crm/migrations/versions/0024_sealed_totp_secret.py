"""users.totp_secret holds the sealed secret (crm.ui.totp_box: Fernet under a key from the secrets store),
longer than the bare base32 value it held in 0021; a bare value stored before reads as no enrolment.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 01:25:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("totp_secret", type_=sa.String(length=255), existing_type=sa.String(length=64))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("totp_secret", type_=sa.String(length=64), existing_type=sa.String(length=255))
