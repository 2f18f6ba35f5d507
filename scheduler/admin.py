from django.contrib import admin

from .models import Occasion


@admin.register(Occasion)
class OccasionAdmin(admin.ModelAdmin):
    """Each user's next occurrences: what the tick will pick up, and when (UTC)."""

    list_display = ("user", "kind", "local_date", "due_at")
    list_filter = ("kind",)
    search_fields = ("user__email", "user__last_name")
    list_select_related = ("user",)
    ordering = ("due_at",)
    readonly_fields = ("user", "kind", "local_date", "due_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)
