import calendar as month_calendar

from django import forms
from django.contrib import admin
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from core import calendar, clock
from core.exceptions import ConflictError
from scheduler.admin import OccasionTimes
from scheduler.models import Occasion

from . import rules, selectors, services
from .models import User


class BirthdayMonthFilter(admin.SimpleListFilter):
    title = "birthday month"
    parameter_name = "birthday_month"

    def lookups(self, request, model_admin):
        return [(str(number), month_calendar.month_name[number]) for number in range(1, 13)]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value not in {str(number) for number in range(1, 13)}:
            return queryset.none()
        return queryset.filter(birthday__month=int(value))


class OccasionInline(OccasionTimes, admin.TabularInline):
    model = Occasion
    fields = ["kind", "local_date", "due_utc", "due_local"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["due_at"]
    verbose_name_plural = "next occasions (when their messages are due)"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class UserAdminForm(forms.ModelForm):
    # When the recipient was last saved, as this form was drawn: a save from a form drawn before
    # another save is refused (services.StaleEdit) instead of putting that save's values back.
    loaded_version = forms.DateTimeField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "birthday", "timezone", "anniversary_date"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["loaded_version"].initial = self.instance.updated_at

    def clean_email(self):
        # Said in words here; the case-insensitive unique index would only name itself.
        value = self.cleaned_data["email"]
        if selectors.email_taken(value, exclude_id=self.instance.pk):
            raise ValidationError("A recipient with this email already exists (emails are compared ignoring case).")
        return value

    def clean_timezone(self):
        value = self.cleaned_data["timezone"]
        if not calendar.is_valid_zone(value):
            raise ValidationError("Unknown time zone; use an IANA name such as Europe/Paris.")
        return value

    def clean(self):
        cleaned = super().clean()
        errors = rules.date_errors(
            birthday=cleaned.get("birthday"), anniversary_date=cleaned.get("anniversary_date"),
            zone_name=cleaned.get("timezone"), now=clock.now(),
        )
        for field, message in errors.items():
            if field in cleaned:
                self.add_error(field, message)
        return cleaned


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    form = UserAdminForm
    list_display = ["id", "first_name", "last_name", "email", "birthday", "timezone", "anniversary_date", "created_at"]
    list_display_links = ["id", "first_name", "last_name"]
    search_fields = ["first_name", "last_name", "email"]
    list_filter = ["timezone", BirthdayMonthFilter]
    ordering = ["id"]
    readonly_fields = ["messages", "created_at", "updated_at"]
    inlines = [OccasionInline]
    list_per_page = 100
    # Counting millions of rows on every page load is slow; the paginator shows "more" instead.
    show_full_result_count = False

    @admin.display(description="messages")
    def messages(self, user):
        if user.pk is None:
            return "-"
        url = reverse("admin:messaging_message_changelist") + f"?user__id__exact={user.pk}"
        return format_html('<a href="{}">{} message(s) sent or on their way →</a>', url, user.messages.count())

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The form's email check can lose a race with another save; the database's unique index
        # then refuses this one. Nothing was saved: say so instead of answering 500.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ConflictError:
            self.message_user(request, "A recipient with this email already exists (emails are compared ignoring "
                              "case); nothing was saved.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        except services.StaleEdit:
            self.message_user(request, "This recipient was changed since this page was opened (in another tab or by "
                              "someone else); nothing was saved. Here it is as it is now: make your change again.",
                              messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    # Every change goes through the service so occasions and pending messages follow it.
    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data[field] for field in services.EDITABLE_FIELDS if field in form.cleaned_data}
        if change:
            saved = services.update_user(obj.pk, {field: data[field] for field in form.changed_data if field in data},
                                         unchanged_since=form.cleaned_data.get("loaded_version"))
        else:
            saved = services.create_user(data)
        obj.pk, obj.created_at, obj.updated_at = saved.pk, saved.created_at, saved.updated_at

    def delete_model(self, request, obj):
        services.delete_user(obj.pk)

    def delete_queryset(self, request, queryset):
        for user_id in list(queryset.values_list("pk", flat=True)):
            try:
                services.delete_user(user_id)
            except services.UserNotFound:
                pass  # deleted meanwhile by someone else: the outcome wanted
