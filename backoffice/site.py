"""The admin site operators use: Django's, with names that tell the two kinds of "user" apart
and an operations overview page linked from the index."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest
from django.urls import path

# Date parts a list filter may name (`due_at__year=2026`, as date_hierarchy links do): the range
# each can take. Django turns `year=99999` into a date and raises (a 500).
_DATE_PARTS = {"__year": (1, 9999), "__month": (1, 12), "__day": (1, 31)}


def unusable_filter(query) -> str | None:
    """What makes a list page's query impossible to run, or None. PostgreSQL refuses a NUL in
    text (a DataError, so a 500 on every filter over a text column)."""
    for key, values in query.lists():
        for value in values:
            if "\x00" in key or "\x00" in value:
                return f"{key!r} holds a NUL character"
            for suffix, (low, high) in _DATE_PARTS.items():
                if key.endswith(suffix) and not (value.isdigit() and low <= int(value) <= high):
                    return f"{key} must be a number from {low} to {high}"
    return None


class SelectionGuard:
    """A list action runs only on values its model's primary key can hold, and a list page only
    with filter values the database can take. Django filters `pk__in` with whatever the POST
    names, and a value the field refuses (`abc`, an id past the column's range) raised in the
    database or the field: a 500 for a hand-made POST or URL. Mixed into every ModelAdmin the
    site registers, Django's and third parties' as well as ours."""

    def changelist_view(self, request, extra_context=None):
        problem = unusable_filter(request.GET)
        if problem:
            return HttpResponseBadRequest(f"This list cannot be filtered that way: {problem}.",
                                          content_type="text/plain; charset=utf-8")
        return super().changelist_view(request, extra_context)

    def response_action(self, request, queryset):
        primary_key = self.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                primary_key.run_validators(primary_key.to_python(value))
        except ValidationError:
            self.message_user(request, "Items must be selected by their checkboxes: the selection held values "
                                       "that are not ids. No items have been changed.", messages.WARNING)
            return None
        return super().response_action(request, queryset)


class BackofficeSite(admin.AdminSite):
    site_header = "birthday operations"
    site_title = "birthday admin"
    index_title = "Operations"
    index_template = "backoffice/index.html"

    # (app label, model name) -> the name the index and the sidebar show.
    ENTRY_NAMES = {
        ("auth", "user"): "Operator accounts (admin logins)",
        ("users", "user"): "Recipients (people who get messages)",
    }

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, SelectionGuard):
            admin_class = type(admin_class.__name__, (SelectionGuard, admin_class),
                               {"__module__": admin_class.__module__, "__qualname__": admin_class.__qualname__})
        super().register(model_or_iterable, admin_class, **options)

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        for app in apps:
            for model in app["models"]:
                name = self.ENTRY_NAMES.get((app["app_label"], model["object_name"].lower()))
                if name:
                    model["name"] = name
        return apps

    def get_urls(self):
        from . import views

        return [
            path("operations/", self.admin_view(views.OverviewView.as_view(site=self)), name="operations_overview"),
            *super().get_urls(),
        ]
