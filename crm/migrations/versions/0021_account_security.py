"""issue 19 items 3-5: two-factor sign-in, OIDC per company, scoped API keys with expiry and rotation

users gain the TOTP secret, its enrolment time, the last accepted step and the recovery codes' hashes;
companies gain "two-factor for everyone" and their OpenID Connect provider (issuer and client id; the client
secret lives in the secrets store); api_keys gain scopes, expiry, last use and the key a rotation replaced.
The keys from before scopes get every scope, so no client stops working. A key's name (its client's) is unique
only among live keys from now on: a rotation's two keys share it during the overlap.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 23:50:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

ALL_SCOPES = "intake read manage"
JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("recovery_code_hashes", JSON, nullable=True))
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("require_two_factor", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("oidc_issuer", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("oidc_client_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("oidc_create_users", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes", sa.String(length=64), server_default=ALL_SCOPES, nullable=False))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rotated_from_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_rotated_from_id_api_keys"),
            "api_keys",
            ["rotated_from_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.drop_constraint("uq_api_keys_company_name", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_api_keys_company_name", ["company_id", "name"])
        batch_op.drop_constraint(batch_op.f("fk_api_keys_rotated_from_id_api_keys"), type_="foreignkey")
        for column in ("rotated_from_id", "last_used_at", "expires_at", "scopes"):
            batch_op.drop_column(column)
    with op.batch_alter_table("companies", schema=None) as batch_op:
        for column in ("oidc_create_users", "oidc_client_id", "oidc_issuer", "require_two_factor"):
            batch_op.drop_column(column)
    with op.batch_alter_table("users", schema=None) as batch_op:
        for column in ("recovery_code_hashes", "totp_last_step", "totp_enabled_at", "totp_secret"):
            batch_op.drop_column(column)
