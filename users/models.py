import datetime

from django.db import models
from django.db.models.functions import Lower


class User(models.Model):
    """A person who receives messages. Not a login account: operators use django.contrib.auth."""

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(max_length=254)
    birthday = models.DateField()
    timezone = models.CharField(max_length=64, help_text="IANA time zone name, e.g. Australia/Melbourne")
    anniversary_date = models.DateField(null=True, blank=True)
    # The Idempotency-Key of the bulk import that created the user, so a re-sent import answers
    # "created" again for its own rows rather than "duplicate".
    import_key = models.CharField(max_length=200, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # "user" alone is ambiguous in the admin, next to the operators' own login accounts.
        verbose_name = "recipient"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="users_user_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(birthday__gte=datetime.date(1900, 1, 1)), name="users_user_birthday_from_1900"
            ),
            models.CheckConstraint(
                condition=models.Q(anniversary_date__isnull=True)
                | models.Q(anniversary_date__gte=datetime.date(1900, 1, 1)),
                name="users_user_anniversary_from_1900",
            ),
        ]
        indexes = [models.Index(fields=["timezone"], name="users_user_timezone_idx")]

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"
