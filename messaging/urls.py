from django.urls import path

from . import api

urlpatterns = [
    path("messages", api.MessageListView.as_view(), name="message-list"),
    path("messages/<str:id>", api.MessageDetailView.as_view(), name="message-detail"),
    path("messages/<str:id>/retry", api.MessageRetryView.as_view(), name="message-retry"),
    path("user/<str:id>/messages", api.UserMessageListView.as_view(), name="user-messages"),
]
