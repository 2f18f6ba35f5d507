from django.contrib import admin, messages as flash
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from backoffice import display
from backoffice.mixins import NotDeletableHere

from . import operations, outbox, selectors
from .models import DeliveryAttempt, Message

SEND_NOW_STATUSES = operations.WAITING

# What the buttons on a message's page do: name -> (button, what the confirmation page says).
OBJECT_ACTIONS = {
    "retry": (
        "Retry",
        "It gets a fresh retry budget and goes on the delivery queue now. It was never accepted by "
        "the vendor, so this does not send it twice.",
    ),
    "send_now": (
        "Send now",
        "It goes on the delivery queue now instead of waiting for its due time or its next retry. "
        "It is the same message (same idempotency key): it is sent once.",
    ),
}


def object_actions_for(message: Message) -> list[str]:
    """Which buttons a message's page offers. A sent message offers none: the database holds one
    message per occasion and nothing re-sends a sent one. Queued and sending ones are on their way."""
    if message.status in operations.RETRYABLE_BY_OPERATOR:
        return ["retry"]
    if message.status in SEND_NOW_STATUSES:
        return ["send_now"]
    return []


# What an operator reads when a change committed and its publishing failed.
NOT_PUBLISHED = ("the broker cannot be reached: nothing is on the queue yet. The periodic dispatcher "
                 "publishes it once the broker is back; there is no need to do it again.")


def run_object_action(message: Message, action: str) -> int:
    """Do `action` to one message through the same services as the list actions; how many went."""
    if action not in object_actions_for(message):
        return 0
    if action == "retry":
        return operations.retry_messages([message.id], operations.RETRYABLE_BY_OPERATOR)
    return operations.send_messages_now([message.id])


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    verbose_name_plural = "delivery attempts (calls to the vendor)"
    fields = ("number", "started", "duration_ms", "outcome", "http_status", "error")
    readonly_fields = fields
    ordering = ("number",)

    @admin.display(description="started (UTC)")
    def started(self, attempt):
        return display.utc(attempt.started_at)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(NotDeletableHere, admin.ModelAdmin):
    list_display = ("id", "user", "kind", "occasion_date", "due_utc", "due_local", "status", "attempts", "failures",
                    "sent_utc")
    list_filter = ("status", "kind", "occasion_date", "due_at")
    date_hierarchy = "due_at"
    search_fields = ("user__email", "user__last_name", "=id")
    list_select_related = ("user",)
    ordering = ("-due_at",)
    fields = (
        "recipient", "kind", "occasion_date", "status", "due", "sent", "attempts", "failures", "last_error",
        "vendor_message_id", "idempotency_key", "dispatch_after", "lease_expires_at", "published_at",
        "created_at", "updated_at",
    )
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["retry_selected", "send_selected_now"]
    show_full_result_count = False

    # --- The message page is read-only: history, not a form ------------------------------

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


    @admin.display(description="recipient")
    def recipient(self, message):
        url = reverse("admin:users_user_change", args=[message.user_id])
        return format_html('<a href="{}">{}</a> · {}', url, message.user, message.user.timezone)

    @admin.display(description="due (UTC · recipient's local time)")
    def due(self, message):
        return display.utc_and_local(message.due_at, message.user.timezone)

    @admin.display(description="sent (UTC · recipient's local time)")
    def sent(self, message):
        return display.utc_and_local(message.sent_at, message.user.timezone)

    @admin.display(description="due (UTC)", ordering="due_at")
    def due_utc(self, message):
        return display.utc(message.due_at)

    @admin.display(description="due (local)")
    def due_local(self, message):
        return display.local(message.due_at, message.user.timezone)

    @admin.display(description="sent (UTC)", ordering="sent_at")
    def sent_utc(self, message):
        return display.utc(message.sent_at)

    def changelist_view(self, request, extra_context=None):
        counts = selectors.status_counts()
        extra_context = {**(extra_context or {}), "title": "Messages — " + ", ".join(
            f"{status}: {counts[status]}" for status in Message.Status.values)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        message = self.get_object(request, object_id)
        buttons = []
        if message is not None:
            buttons = [
                (OBJECT_ACTIONS[name][0], reverse(f"admin:messaging_message_{name}", args=[message.pk]))
                for name in object_actions_for(message)
            ]
        extra_context = {**(extra_context or {}), "message_actions": buttons}
        return super().change_view(request, object_id, form_url, extra_context)

    # --- Buttons on the message page: confirm, then the same services as the list actions -----

    def get_urls(self):
        def view(action):
            def confirm(request, object_id):
                return self.object_action_view(request, object_id, action)

            return self.admin_site.admin_view(confirm)

        return [
            path("<path:object_id>/retry/", view("retry"), name="messaging_message_retry"),
            path("<path:object_id>/send-now/", view("send_now"), name="messaging_message_send_now"),
            *super().get_urls(),
        ]

    def object_action_view(self, request, object_id, action):
        message = get_object_or_404(Message.objects.select_related("user"), pk=_int_or_404(object_id))
        if not self.has_view_permission(request, message):
            raise PermissionDenied
        page = reverse("admin:messaging_message_change", args=[message.pk])
        button, explanation = OBJECT_ACTIONS[action]
        if request.method == "POST":
            # Decided again on the row as it is now: it may have moved on since the page was drawn.
            try:
                done = run_object_action(message, action)
            except outbox.BrokerUnreachable:
                self.message_user(request, f"Message {message.pk}: {button.lower()} saved, but {NOT_PUBLISHED}",
                                  flash.WARNING)
                return redirect(page)
            if done:
                self.message_user(request, f"Message {message.pk}: {button.lower()} done; it is on the queue now.",
                                  flash.SUCCESS)
            else:
                message.refresh_from_db()
                self.message_user(
                    request, f"Message {message.pk} is {message.get_status_display()} now; {button.lower()} "
                    "does not apply, nothing was queued.", flash.WARNING)
            return redirect(page)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{button} message {message.pk}?",
            "message_obj": message,
            "opts": self.model._meta,
            "button": button,
            "explanation": explanation,
            "applies": action in object_actions_for(message),
            "due": display.utc_and_local(message.due_at, message.user.timezone),
            "page": page,
        }
        return TemplateResponse(request, "admin/messaging/message/confirm_action.html", context)

    # --- List actions ------------------------------------------------------------------------

    @admin.action(description="Retry selected dead, failed or expired messages", permissions=["view"])
    def retry_selected(self, request, queryset):
        try:
            count = operations.retry_messages(
                queryset.values_list("id", flat=True), statuses=operations.RETRYABLE_BY_OPERATOR
            )
        except outbox.BrokerUnreachable:
            self.message_user(request, f"The retry is saved, but {NOT_PUBLISHED}", flash.WARNING)
            return
        self.message_user(request, f"{count} message(s) queued again.", flash.SUCCESS)

    @admin.action(description="Send the selected messages now (waiting ones now, dead, failed or expired ones "
                              "retried)", permissions=["view"])
    def send_selected_now(self, request, queryset):
        # The selected messages as they are now, waiting ones first, then those to retry: each
        # step publishes every ready row, so a waiting message must be counted before a retry's
        # publishing takes it (and none is ever looked at again after it went on the queue).
        ids = list(queryset.values_list("id", flat=True))
        try:
            sent = operations.send_messages_now(ids)
            sent += operations.retry_messages(ids, operations.RETRYABLE_BY_OPERATOR)
        except outbox.BrokerUnreachable:
            self.message_user(request, f"The selected messages are saved, but {NOT_PUBLISHED}", flash.WARNING)
            return
        self.message_user(request, f"{sent} message(s) queued now.", flash.SUCCESS)


def _int_or_404(raw) -> int:
    from django.http import Http404

    if not str(raw).isdigit() or len(str(raw)) > 18:
        raise Http404("no such message")
    return int(raw)
