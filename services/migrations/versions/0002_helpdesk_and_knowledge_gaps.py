"""helpdesk and knowledge gaps

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:30:59.032289
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('kb_gaps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=300), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_gaps')),
    sa.UniqueConstraint('text', name=op.f('uq_kb_gaps_text'))
    )
    op.create_table('helpdesk_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('telegram_user_id', sa.BigInteger(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=True),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('staff_chat_id', sa.BigInteger(), nullable=True),
    sa.Column('staff_message_id', sa.BigInteger(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_by', sa.String(length=80), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_helpdesk_questions_employee_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_questions'))
    )
    with op.batch_alter_table('helpdesk_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_questions_telegram_user_id'), ['telegram_user_id'], unique=False)
        batch_op.create_index('ix_helpdesk_staff_message', ['staff_chat_id', 'staff_message_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('helpdesk_questions', schema=None) as batch_op:
        batch_op.drop_index('ix_helpdesk_staff_message')
        batch_op.drop_index(batch_op.f('ix_helpdesk_questions_telegram_user_id'))

    op.drop_table('helpdesk_questions')
    op.drop_table('kb_gaps')

