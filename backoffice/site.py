"""The admin site operators use: Django's, with names that tell the two kinds of "user" apart
and an operations overview page linked from the index."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.urls import path


class SelectionGuard:
    """A list action runs only on values its model's primary key can hold. Django filters
    `pk__in` with whatever the POST names, and a value the field refuses (`abc`, an id past the
    column's range) raised in the database or the field: a 500 for a hand-made POST. Mixed into
    every ModelAdmin the site registers, Django's and third parties' as well as ours."""

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
