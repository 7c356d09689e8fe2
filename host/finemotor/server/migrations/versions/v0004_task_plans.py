"""task_plans: the tasks a therapist plans for a student's sessions, with their history

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_plans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "student_id",
            sa.Integer(),
            sa.ForeignKey("students.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tasks", sa.Text(), nullable=False),
        sa.Column("set_at", sa.Float(), nullable=False),
        sa.Column(
            "set_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("replaced_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_task_plans_student", "task_plans", ["student_id", "set_at"])


def downgrade() -> None:
    op.drop_index("ix_task_plans_student", "task_plans")
    op.drop_table("task_plans")
