"""The `task_counts` table: how many tasks each user has, kept by the database itself.

The list answers `X-Total-Count`. Counting a user's rows on every full page costs time in
proportion to their tasks (2-3 ms for 10,000); reading this row costs the same for everyone.
Row triggers on `tasks`, created by migration 004 (the one place their SQL lives; every
database, the tests' included, is built by the migrations), keep it exact in the same
transaction as the insert or delete, whoever writes: the service, a migration or someone with
psql. `TRUNCATE tasks` fires no row trigger: truncate this table with it.
"""

from sqlmodel import Field, SQLModel


class TaskCount(SQLModel, table=True):
    __tablename__ = "task_counts"

    user_id: str = Field(primary_key=True, max_length=255)
    total: int = Field(default=0)
