from django import forms
from django.contrib import admin, messages

from . import services
from .models import ApiToken


class ApiTokenCreationForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "active", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    ordering = ["name"]
    actions = ["revoke"]
    # token_hash is deliberately absent everywhere: it is a credential-equivalent.
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]

    @admin.display(boolean=True, description="active")
    def active(self, obj):
        return obj.is_active

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name"]
        return ["name", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # A token's name is how operators and logs refer to it; it does not change.
        return ["name", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            return
        token, raw = services.create_token(form.cleaned_data["name"])
        obj.pk = token.pk
        obj.token_hash, obj.prefix, obj.created_at = token.token_hash, token.prefix, token.created_at
        messages.warning(
            request,
            f"API token for {token.name!r}: {raw} — copy it now; only its hash is kept and it will not be shown again.",
        )

    def delete_model(self, request, obj):
        self._warn_if_cached(request, services.delete_tokens([obj]))

    def delete_queryset(self, request, queryset):
        self._warn_if_cached(request, services.delete_tokens(list(queryset)))

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        revocations = [services.revoke_token(token) for token in queryset]
        self.message_user(request, f"Revoked {sum(r.revoked for r in revocations)} token(s).", messages.SUCCESS)
        self._warn_if_cached(request, [r.cache for r in revocations])

    def _warn_if_cached(self, request, cache_writes) -> None:
        # The change is committed; only the token cache (Redis) still answers for the token.
        if any(write.done is False for write in cache_writes):
            self.message_user(
                request, f"The token cache (Redis) could not be updated: the API may still accept the token for up "
                f"to {services.TOKEN_CACHE_SECONDS} seconds. Revoke it again once Redis is back for it to take "
                "effect at once.", messages.WARNING)
