from django.urls import path

from . import bulk_api, views

urlpatterns = [
    path("user", views.UserListCreateView.as_view(), name="user-list"),
    path("users/bulk", bulk_api.UserBulkImportView.as_view(), name="user-bulk-import"),
    # Any segment reaches the view, which answers 404 in JSON for ids that are not integers.
    path("user/<str:id>", views.UserDetailView.as_view(), name="user-detail"),
]
