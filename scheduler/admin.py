from django.contrib import admin

from backoffice import display
from backoffice.mixins import NotDeletableHere

from .models import Occasion


class OccasionTimes:
    """An occasion's due time in both clocks, for the occasions admin and the recipient's page."""

    @admin.display(description="due (UTC)", ordering="due_at")
    def due_utc(self, occasion):
        return display.utc(occasion.due_at)

    @admin.display(description="due (recipient's local time)")
    def due_local(self, occasion):
        return display.local(occasion.due_at, occasion.user.timezone)


@admin.register(Occasion)
class OccasionAdmin(OccasionTimes, NotDeletableHere, admin.ModelAdmin):
    """Each user's next occurrences: what the tick will pick up, and when."""

    list_display = ("user", "kind", "local_date", "due_utc", "due_local")
    list_filter = ("kind",)
    search_fields = ("user__email", "user__last_name")
    list_select_related = ("user",)
    ordering = ("due_at",)
    fields = ("user", "kind", "local_date", "due_utc", "due_local")
    readonly_fields = fields
    show_full_result_count = False

    # Read-only: the schedule follows the recipient's dates (edit those); a deleted occasion
    # would be a message never sent (NotDeletableHere).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
