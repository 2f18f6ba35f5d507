from django.core.exceptions import PermissionDenied


class NotDeletableHere:
    """For a ModelAdmin whose rows must not be deleted on their own (a deleted message would let
    its occasion be sent again; a deleted occasion would be a message never sent): no delete
    page, button or list action. The delete permission itself stays, because deleting a
    recipient deletes these rows with them and Django checks it for every related row."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "show_delete": False})

    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
