from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class BackofficeConfig(AppConfig):
    """The operators' side: the admin site's own pages (operations overview) and templates."""

    default = True
    name = "backoffice"
    verbose_name = "Back office"


class BackofficeAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the site below as `admin.site`."""

    default = False
    default_site = "backoffice.site.BackofficeSite"
