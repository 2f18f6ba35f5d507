"""The admin site operators use: Django's, with names that tell the two kinds of "user" apart
and an operations overview page linked from the index."""

from django.contrib import admin
from django.urls import path


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
