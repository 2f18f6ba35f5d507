from django.contrib import admin, messages as flash
from django.db.models import Count

from . import operations
from .models import DeliveryAttempt, Message


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "duration_ms", "outcome", "http_status", "error")
    readonly_fields = fields
    ordering = ("number",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "occasion_date", "due_at", "status", "attempts", "failures", "sent_at")
    list_filter = ("status", "kind", "occasion_date", "due_at")
    date_hierarchy = "due_at"
    search_fields = ("user__email", "user__last_name", "=id")
    list_select_related = ("user",)
    ordering = ("-due_at",)
    readonly_fields = [f.name for f in Message._meta.fields]
    inlines = [DeliveryAttemptInline]
    actions = ["retry_selected", "send_selected_now"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)

    def changelist_view(self, request, extra_context=None):
        counts = dict(Message.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        extra_context = {**(extra_context or {}), "title": "Messages — " + ", ".join(
            f"{status}: {counts.get(status, 0)}" for status in Message.Status.values)}
        return super().changelist_view(request, extra_context)

    @admin.action(description="Retry selected dead, failed or expired messages", permissions=["view"])
    def retry_selected(self, request, queryset):
        count = operations.retry_messages(
            queryset.values_list("id", flat=True), statuses=operations.RETRYABLE_BY_OPERATOR
        )
        self.message_user(request, f"{count} message(s) queued again.", flash.SUCCESS)

    @admin.action(description="Send the selected messages' users their message now", permissions=["view"])
    def send_selected_now(self, request, queryset):
        sent = 0
        for message in queryset.select_related("user"):
            if message.status in (Message.Status.PENDING, Message.Status.RETRY):
                sent += operations.send_now(message.user, message.kind) is not None
            elif message.status in operations.RETRYABLE_BY_OPERATOR:
                sent += operations.retry_messages([message.id], operations.RETRYABLE_BY_OPERATOR)
        self.message_user(request, f"{sent} message(s) queued now.", flash.SUCCESS)
