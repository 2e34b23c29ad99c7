"""The database schema: its migrations (Alembic, with the frozen SQL each applies), the current SQL source of
every function and trigger, and `migrate`. What the migration function ships, and all it ships; `progress-admin
migrate` and the tests use the same package."""
