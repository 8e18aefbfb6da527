"""Alembic environment: the app's models and the app's DATABASE_URL."""

from logging.config import fileConfig

from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from alembic import context
from src.config import DatabaseSettings, explained
from src.db import database_url, sqlalchemy_url

# Imported to register their tables on SQLModel.metadata.
from src.models.idempotency_key import IdempotencyKey  # noqa: F401
from src.models.task import Task  # noqa: F401
from src.models.task_count import TaskCount  # noqa: F401
from src.models.task_event import TaskEvent  # noqa: F401

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=sqlalchemy_url(database_url(explained(DatabaseSettings))),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # Tests hand in a connection of their own; otherwise connect the way the app does.
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    settings = explained(DatabaseSettings)
    engine = create_engine(
        sqlalchemy_url(database_url(settings)),
        poolclass=NullPool,
        connect_args={"connect_timeout": settings.db_connect_timeout},
    )
    # A migration is one transaction: it lands whole or not at all.
    with engine.connect() as new_connection:
        _run(new_connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
