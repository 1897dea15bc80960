from rest_framework import serializers

from backend.notifications.models import Notification, Supervision


class NotificationSerializer(serializers.ModelSerializer):
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "subject", "day", "title", "body", "data", "created_at", "read_at", "is_read"]
        read_only_fields = fields

    def get_is_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class ReadAllSerializer(serializers.Serializer):
    marked_read = serializers.IntegerField(help_text="How many unread notices were marked read.")


class SupervisionSerializer(serializers.ModelSerializer):
    item_name = serializers.CharField(source="item.name", read_only=True)
    department_name = serializers.CharField(source="department.name", read_only=True)
    status = serializers.CharField(read_only=True)

    class Meta:
        model = Supervision
        fields = [
            "id",
            "item",
            "item_name",
            "case",
            "department",
            "department_name",
            "status",
            "opened_on",
            "notified",
            "acknowledged_at",
            "acknowledged_by",
            "response",
            "responded_at",
            "responded_by",
            "closed_at",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SupervisionRespondSerializer(serializers.Serializer):
    response = serializers.CharField(help_text="The department's response (at most 5000 characters).")
