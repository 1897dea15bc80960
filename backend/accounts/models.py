import uuid

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models

from backend.common.models import TimeStampedModel


class UtilityType(models.TextChoices):
    WATER = "water", "供水"
    POWER = "power", "供电"
    GAS = "gas", "燃气"
    HEATING = "heating", "供热"
    TELECOM = "telecom", "通信"


class OrganizationKind(models.TextChoices):
    APPROVAL_DEPARTMENT = "approval_department", "审批部门"
    UTILITY_COMPANY = "utility_company", "公用事业单位"
    BUILDER = "builder", "建设单位"
    SURVEY_CREW = "survey_crew", "踏勘组"
    ACCEPTANCE_TEAM = "acceptance_team", "联合验收组"
    VEHICLE_TEAM = "vehicle_team", "直通车专班"
    EXTERNAL_SYSTEM = "external_system", "外部系统"


class Organization(TimeStampedModel):
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=OrganizationKind.choices, db_index=True)
    utility_types = ArrayField(models.CharField(max_length=16, choices=UtilityType.choices), default=list, blank=True)
    # Administrative division code (6 digits, or a prefix such as "3702" for a whole city):
    # an approval department's jurisdiction covers projects whose code region starts with it.
    region = models.CharField(max_length=6, blank=True, db_index=True)
    # 统一社会信用代码, for builders.
    credit_code = models.CharField(max_length=18, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="utility_company") | models.Q(utility_types=[]),
                name="organization_utility_types_only_for_utility_companies",
            )
        ]

    def __str__(self) -> str:
        return self.name


class CaseOrigin(models.Model):
    """The organisation whose upsert created an approval case: an external system sees the cases
    of its region and the ones it created itself (backend.cases.selectors.cases_visible_to).

    A fact about who may see what, kept with the organisations rather than on the mirrored case,
    whose fields follow the approval system's.
    """

    case = models.OneToOneField("cases.ApprovalCase", primary_key=True, on_delete=models.CASCADE, related_name="origin")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="created_cases")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.case_id} created by {self.organization_id}"


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator", "管理员"
    OFFICIAL = "official", "审批人员"
    BACK_OFFICE = "back_office", "后台人员"
    SURVEYOR = "surveyor", "踏勘人员"
    VEHICLE_LEAD = "vehicle_lead", "直通车班长"
    VEHICLE_AGENT = "vehicle_agent", "代办员"
    VEHICLE_APPROVER = "vehicle_approver", "审批员"
    UTILITY_STAFF = "utility_staff", "公用事业单位人员"
    INSPECTOR = "inspector", "验收人员"
    BUILDER_REPRESENTATIVE = "builder_representative", "建设单位代表"
    INTEGRATION = "integration", "系统对接"
    # Deadline notices (seed 002): the head is reminded at remind5, the supervisor at supervise3.
    DEPARTMENT_HEAD = "department_head", "部门负责人"
    SUPERVISOR = "supervisor", "督查人员"


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    roles = ArrayField(models.CharField(max_length=32, choices=Role.choices), default=list, blank=True)
    full_name = models.CharField(max_length=100, blank=True)

    @property
    def is_administrator(self) -> bool:
        return self.is_superuser or Role.ADMINISTRATOR in self.roles

    @property
    def organization_kind(self) -> str | None:
        return self.organization.kind if self.organization_id else None


class DeviceToken(models.Model):
    """One token per (user, device); only its SHA-256 is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="device_tokens")
    device_id = models.CharField(max_length=100)
    device_name = models.CharField(max_length=200, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "device_id"],
                condition=models.Q(revoked_at__isnull=True),
                name="device_token_one_active_per_device",
            )
        ]
        indexes = [models.Index(fields=["user", "device_id"])]

    def __str__(self) -> str:
        return f"{self.user} @ {self.device_id}"
