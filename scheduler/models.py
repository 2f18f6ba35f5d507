from django.db import models


class Occasion(models.Model):
    """The next occurrence of one occasion type for one user.

    The tick selects rows with `due_at <= now` through the `due_at` index, so its cost follows
    the number of due occasions, not the number of users. Once materialised into a message the
    row advances to the following occurrence.
    """

    user = models.ForeignKey("users.User", on_delete=models.CASCADE, related_name="occasions")
    kind = models.CharField(max_length=32)
    local_date = models.DateField(help_text="The occurrence's date in the user's time zone")
    due_at = models.DateTimeField(help_text="SEND_HOUR on local_date in the user's time zone, in UTC")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="scheduler_occasion_user_kind_unique")]
        indexes = [models.Index(fields=["due_at"], name="scheduler_occasion_due_idx")]

    def __str__(self) -> str:
        return f"{self.kind} of user {self.user_id} on {self.local_date}"
