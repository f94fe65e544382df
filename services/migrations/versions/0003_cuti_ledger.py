"""cuti ledger

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 22:15:57.724587
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cuti_ledger',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_cuti_ledger_employee_id_employees'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cuti_ledger'))
    )
    with op.batch_alter_table('cuti_ledger', schema=None) as batch_op:
        batch_op.create_index('ix_cuti_ledger_employee_year', ['employee_id', 'year'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cuti_ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_cuti_ledger_employee_year')

    op.drop_table('cuti_ledger')
