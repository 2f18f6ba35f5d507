"""Indexes for the messages API's keyset pages, built without locking writes on PostgreSQL."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class ConcurrentOnPostgreSQL:
    """CONCURRENTLY on PostgreSQL (no write lock on a large table); the plain operation elsewhere."""

    fallback: type

    def _run(self, direction, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return getattr(super(), direction)(app_label, schema_editor, from_state, to_state)
        return getattr(self.fallback, direction)(self, app_label, schema_editor, from_state, to_state)

    def database_forwards(self, *args):
        return self._run("database_forwards", *args)

    def database_backwards(self, *args):
        return self._run("database_backwards", *args)


class PortableAddIndex(ConcurrentOnPostgreSQL, AddIndexConcurrently):
    fallback = migrations.AddIndex


class PortableRemoveIndex(ConcurrentOnPostgreSQL, RemoveIndexConcurrently):
    fallback = migrations.RemoveIndex


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("messaging", "0002_attempt_started_idx")]

    operations = [
        PortableAddIndex(
            model_name="message",
            index=models.Index(fields=["status", "due_at", "id"], name="messaging_msg_status_due_idx"),
        ),
        PortableAddIndex(
            model_name="message",
            index=models.Index(fields=["due_at", "id"], name="messaging_msg_due_id_idx"),
        ),
        # The new (status, due_at, id) index serves everything the old (status, due_at) one did,
        # and takes over its name.
        PortableRemoveIndex(model_name="message", name="messaging_message_status_idx"),
        migrations.RenameIndex(
            model_name="message", new_name="messaging_message_status_idx", old_name="messaging_msg_status_due_idx"
        ),
    ]
