from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backend.accounts.models import DeviceToken, Organization, Role, User, UtilityType
from backend.accounts.services import device_tokens_revoke_for_user, organization_validation_errors


class OrganizationAdminForm(forms.ModelForm):
    utility_types = forms.TypedMultipleChoiceField(
        choices=UtilityType.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Organization
        fields = ["name", "kind", "utility_types", "region", "credit_code"]

    def clean(self):
        data = super().clean()
        # The same rules as the API (organization_create / organization_update).
        errors = organization_validation_errors(
            name=data.get("name") or "",
            kind=data.get("kind") or "",
            utility_types=list(data.get("utility_types") or []),
            region=(data.get("region") or "").strip(),
            credit_code=(data.get("credit_code") or "").strip().upper(),
        )
        if errors:
            raise ValidationError({field: messages_ for field, messages_ in errors.items() if field in self.fields})
        return data


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationAdminForm
    list_display = ["name", "kind", "region", "utility_types_display", "credit_code"]
    list_filter = ["kind"]
    search_fields = ["name", "region", "credit_code"]

    @admin.display(description=_("utility types"))
    def utility_types_display(self, obj: Organization) -> str:
        labels = dict(UtilityType.choices)
        return "、".join(str(labels.get(t, t)) for t in obj.utility_types)


class RolesField(forms.TypedMultipleChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=Role.choices, required=False, widget=forms.CheckboxSelectMultiple, **kwargs)


class UserChangeForm(DjangoUserAdmin.form):
    roles = RolesField()

    class Meta(DjangoUserAdmin.form.Meta):
        model = User
        fields = "__all__"


class UserCreationForm(DjangoUserAdmin.add_form):
    roles = RolesField()

    class Meta(DjangoUserAdmin.add_form.Meta):
        model = User
        fields = ["username", "organization", "roles", "full_name"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ["username", "full_name", "organization", "roles_display", "is_active", "is_superuser"]
    list_filter = ["is_active", "is_superuser", "organization__kind"]
    search_fields = ["username", "full_name", "organization__name"]
    list_select_related = ["organization"]
    autocomplete_fields = ["organization"]
    ordering = ["username"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        (_("Organisation and roles"), {"fields": ["full_name", "organization", "roles"]}),
        (
            _("Permissions"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["username", "password1", "password2", "full_name", "organization", "roles"],
            },
        ),
    ]

    @admin.display(description=_("roles"))
    def roles_display(self, obj: User) -> str:
        labels = dict(Role.choices)
        return "、".join(str(labels.get(r, r)) for r in obj.roles)

    def save_model(self, request, obj: User, form, change):
        super().save_model(request, obj, form, change)
        # Same rule as user_update: deactivation or a new password ends every device session.
        if change and ("password" in form.changed_data or not obj.is_active):
            device_tokens_revoke_for_user(user=obj)


@admin.register(DeviceToken)
class DeviceTokenAdmin(admin.ModelAdmin):
    """Read-only: tokens are issued by logging in; the admin may only revoke them."""

    list_display = ["user", "device_id", "device_name", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "device_id", "device_name"]
    list_select_related = ["user"]
    ordering = ["-created_at"]
    actions = ["revoke"]
    readonly_fields = [
        "id",
        "user",
        "device_id",
        "device_name",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    exclude = ["key_hash"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Viewing only; the revoke action checks for this permission separately below.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("accounts.change_devicetoken")

    @admin.action(description=_("Revoke the selected tokens"), permissions=["revoke"])
    def revoke(self, request, queryset) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)
