"""The API's JSON contract for webhook endpoints."""

from django.core.validators import URLValidator
from rest_framework import serializers

from .models import EVENT_TYPES, URL_VALIDATORS, Endpoint, validate_event_types


class WebhookURLField(serializers.URLField):
    """A URLField with the model's validators in place of DRF's own URLValidator, which admits
    ftp too and, beside the model's, would report a bad URL twice."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, URLValidator)] + list(URL_VALIDATORS)


class EndpointSerializer(serializers.ModelSerializer):
    # Declared, not derived from the model: DRF swaps a model URLField's validators for its own.
    url = WebhookURLField(max_length=2000, help_text="Where events are POSTed (http or https, a public host)")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES), required=False, allow_empty=False,
        help_text="Event types to receive; all of them when omitted",
    )
    has_previous_secret = serializers.SerializerMethodField(
        help_text="Whether events are also signed with the previous secret (during a rotation)"
    )

    class Meta:
        model = Endpoint
        fields = ["id", "url", "description", "event_types", "is_active", "has_previous_secret",
                  "previous_secret_expires_at", "created_at", "updated_at"]
        read_only_fields = ["id", "has_previous_secret", "previous_secret_expires_at", "created_at", "updated_at"]

    def get_has_previous_secret(self, endpoint) -> bool:
        return bool(endpoint.previous_secret)

    def validate_event_types(self, value):
        # The API forgives a repeated type (the items already passed their choice check one by
        # one); what is stored is what the services and the admin also take.
        value = sorted(set(value))
        validate_event_types(value)
        return value


class EndpointWithSecretSerializer(EndpointSerializer):
    """Shown once, when the endpoint is created or its secret rotated."""

    secret = serializers.CharField(read_only=True, help_text="The signing secret; store it now, it is not shown again")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = [*EndpointSerializer.Meta.read_only_fields, "secret"]


class RotateSecretSerializer(serializers.Serializer):
    overlap_hours = serializers.IntegerField(
        required=False, min_value=0, max_value=24 * 30,
        help_text="How long the old secret keeps signing events too (default WEBHOOK_SECRET_OVERLAP_HOURS; 0: drop it now)",
    )
