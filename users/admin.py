import calendar as month_calendar

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from core import calendar, clock
from scheduler.models import Occasion

from . import services
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


class OccasionInline(admin.TabularInline):
    model = Occasion
    fields = ["kind", "local_date", "due_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["due_at"]
    verbose_name_plural = "next occasions (due_at in UTC)"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class UserAdminForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "birthday", "timezone", "anniversary_date"]

    def clean_timezone(self):
        value = self.cleaned_data["timezone"]
        if not calendar.is_valid_zone(value):
            raise ValidationError("Unknown time zone; use an IANA name such as Europe/Paris.")
        return value

    def clean(self):
        cleaned = super().clean()
        zone_name = cleaned.get("timezone")
        today = calendar.local_today(zone_name, clock.now()) if zone_name else None
        for field in ("birthday", "anniversary_date"):
            value = cleaned.get(field)
            if value is not None and today is not None and value > today:
                self.add_error(field, "Date cannot be in the future.")
        return cleaned


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    form = UserAdminForm
    list_display = ["id", "first_name", "last_name", "email", "birthday", "timezone", "anniversary_date", "created_at"]
    list_display_links = ["id", "first_name", "last_name"]
    search_fields = ["first_name", "last_name", "email"]
    list_filter = ["timezone", BirthdayMonthFilter]
    ordering = ["id"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [OccasionInline]
    list_per_page = 100
    # Counting millions of rows on every page load is slow; the paginator shows "more" instead.
    show_full_result_count = False

    # Every change goes through the service so occasions and pending messages follow it.
    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data[field] for field in services.EDITABLE_FIELDS if field in form.cleaned_data}
        if change:
            saved = services.update_user(obj.pk, {field: data[field] for field in form.changed_data if field in data})
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
