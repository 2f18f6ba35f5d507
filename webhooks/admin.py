from django import forms
from django.contrib import admin, messages as flash
from django.core.exceptions import ValidationError
from django.db import models

from . import services
from .models import Endpoint, Event


class JSONFormField(forms.JSONField):
    """Django's JSON form field, with input nested past the decoder's recursion limit refused as
    invalid JSON (it catches only JSONDecodeError: the RecursionError was a 500)."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": "…"}) from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ("id", "url", "description", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    readonly_fields = ("secret", "previous_secret", "previous_secret_expires_at", "created_at", "updated_at")
    fields = ("url", "description", "event_types", "is_active", *readonly_fields)
    actions = ["rotate_secrets"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}, models.JSONField: {"form_class": JSONFormField}}

    def save_model(self, request, obj, form, change):
        if change:
            data = {field: form.cleaned_data[field] for field in form.changed_data if field in services.EDITABLE_FIELDS}
            services.update_endpoint(endpoint_id=obj.pk, data=data)
        else:
            created = services.create_endpoint(**{f: form.cleaned_data[f] for f in services.EDITABLE_FIELDS
                                                  if f in form.cleaned_data})
            obj.pk, obj.secret = created.pk, created.secret

    @admin.action(description="Rotate the signing secret of the selected endpoints (old one kept for the overlap)")
    def rotate_secrets(self, request, queryset):
        for endpoint_id in queryset.values_list("id", flat=True):
            services.rotate_secret(endpoint_id=endpoint_id)
        self.message_user(request, f"{queryset.count()} secret(s) rotated.", flash.SUCCESS)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "endpoint", "type", "message_id", "status", "attempts", "last_status_code",
                    "next_attempt_at", "created_at")
    list_filter = ("status", "type")
    search_fields = ("=id", "=message_id")
    list_select_related = ("endpoint",)
    ordering = ("-created_at",)
    readonly_fields = [f.name for f in Event._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)
