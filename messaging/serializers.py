"""The API's JSON contract for messages (read-only, plus the retry action)."""

from rest_framework import serializers

from .models import DeliveryAttempt, Message


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "duration_ms", "outcome", "http_status", "error"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True, help_text="The recipient's id")
    attempts = serializers.IntegerField(read_only=True, help_text="Calls made to the vendor")
    failures = serializers.IntegerField(read_only=True, help_text="Failed calls that spent the retry budget")

    class Meta:
        model = Message
        fields = [
            "id", "user_id", "kind", "occasion_date", "due_at", "status", "attempts", "failures", "sent_at",
            "last_error", "created_at", "updated_at",
        ]
        read_only_fields = fields


class MessageDetailSerializer(MessageSerializer):
    delivery_attempts = DeliveryAttemptSerializer(many=True, read_only=True, help_text="Every vendor call, in order")

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "delivery_attempts"]
        read_only_fields = fields


class MessageListQuerySerializer(serializers.Serializer):
    """Filters for GET /messages and GET /user/<id>/messages."""

    status = serializers.ChoiceField(choices=Message.Status.values, required=False, help_text="Only this status")
    kind = serializers.CharField(required=False, max_length=32, help_text="Only this occasion type, e.g. birthday")
    due_after = serializers.DateTimeField(required=False, help_text="Due at or after this instant (ISO 8601)")
    due_before = serializers.DateTimeField(required=False, help_text="Due before this instant (ISO 8601)")
