"""The `task_counts` table: how many tasks each user has, kept by the database itself.

The list answers `X-Total-Count`. Counting a user's rows on every full page costs time in
proportion to their tasks (2-3 ms for 10,000); reading this row costs the same for everyone.
Triggers on `tasks` keep it exact in the same transaction as the insert or delete, whoever
writes: the service, a migration or someone with psql. `TRUNCATE tasks` fires no row trigger:
truncate this table with it.
"""

from sqlalchemy import DDL, event
from sqlmodel import Field, SQLModel


class TaskCount(SQLModel, table=True):
    __tablename__ = "task_counts"

    user_id: str = Field(primary_key=True, max_length=255)
    total: int = Field(default=0)


# The same triggers as migration 004, for databases made from the models (the tests).
POSTGRESQL_TRIGGERS = """
CREATE OR REPLACE FUNCTION count_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO task_counts (user_id, total) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET total = task_counts.total + 1;
        RETURN NEW;
    END IF;
    UPDATE task_counts SET total = total - 1 WHERE user_id = OLD.user_id;
    RETURN OLD;
END;
$$;
DROP TRIGGER IF EXISTS tasks_counted ON tasks;
CREATE TRIGGER tasks_counted AFTER INSERT OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION count_tasks();
"""
_DDL = DDL(POSTGRESQL_TRIGGERS)  # type: ignore[no-untyped-call]
event.listen(SQLModel.metadata, "after_create", _DDL)
