import django_filters
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from backend.onsite.certificate import certificate_pdf
from backend.onsite.models import Certificate, DecisionOutcome, Delegation, OnsiteDecision, OnsiteIntake, OnsiteItem
from backend.onsite.selectors import (
    certificates_visible_to,
    delegation_check,
    delegations_visible_to,
    onsite_decisions_visible_to,
    onsite_intakes_visible_to,
    onsite_items_visible_to,
)
from backend.onsite.services import (
    delegation_grant,
    delegation_revoke,
    onsite_decision_reopen,
    onsite_item_create,
    onsite_item_delete,
    onsite_item_update,
)
from mobile_api.accounts.permissions import IsAdministratorOrReadOnly
from mobile_api.onsite.public_views import certificate_verify_url
from mobile_api.onsite.serializers import (
    CertificateSerializer,
    DelegationCheckQuerySerializer,
    DelegationCheckSerializer,
    DelegationSerializer,
    OnsiteDecisionSerializer,
    OnsiteIntakeSerializer,
    OnsiteItemSerializer,
    RevokeSerializer,
)
from mobile_api.records.views import FieldRecordViewSet, device_id_of

CHECK_REFUSALS = (
    "Not allowed to decide: `not_delegated`, `delegation_expired`, `delegation_not_yet_valid`, "
    "`delegation_revoked` (with `delegation` and its date), `item_not_decidable_on_site`, `not_vehicle_approver`."
)
GRANT_INVALID = (
    "`validation_error`, `not_approval_department`, `not_vehicle_approver` (the delegate), "
    "`item_not_delegable` (not an active item the department decides on site), `invalid_period`."
)


@extend_schema_view(
    list=extend_schema(summary="The on-site item catalogue (现场受理 / 现场审批 per department)"),
    create=extend_schema(summary="Add a catalogue entry (administrators)"),
    partial_update=extend_schema(summary="Change a catalogue entry (administrators)"),
    update=extend_schema(summary="Replace a catalogue entry (administrators)"),
    destroy=extend_schema(
        summary="Delete an entry no delegation names (administrators)",
        responses={204: None, 409: OpenApiResponse(description="`in_use`: retire it (`active=false`) instead.")},
    ),
)
class OnsiteItemViewSet(viewsets.ModelViewSet):
    queryset = OnsiteItem.objects.none()  # scoped per request in get_queryset
    serializer_class = OnsiteItemSerializer
    permission_classes = [permissions.IsAuthenticated, IsAdministratorOrReadOnly]
    filterset_fields = ["department", "accept_on_site", "decide_on_site", "active"]

    def get_queryset(self):
        return onsite_items_visible_to(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = onsite_item_create(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = onsite_item_update(
            by=self.request.user, item=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        onsite_item_delete(by=self.request.user, item=instance)


@extend_schema_view(
    list=extend_schema(summary="Delegations (授权) visible to the caller"),
    create=extend_schema(
        summary="Grant a delegation (the department's head or an administrator)",
        responses={201: DelegationSerializer, 400: OpenApiResponse(description=GRANT_INVALID)},
    ),
)
class DelegationViewSet(
    mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Delegation.objects.none()  # scoped per request in get_queryset
    serializer_class = DelegationSerializer
    filterset_fields = ["department", "delegate"]

    def get_queryset(self):
        return delegations_visible_to(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = delegation_grant(
            by=self.request.user, device_id=device_id_of(self.request), **serializer.validated_data
        )

    @extend_schema(
        summary="Revoke a delegation (the department's head or an administrator)",
        request=RevokeSerializer,
        responses={200: DelegationSerializer, 409: OpenApiResponse(description="`already_revoked`.")},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk=None) -> Response:
        body = RevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        delegation = delegation_revoke(
            by=request.user,
            delegation=self.get_object(),
            reason=body.validated_data["reason"],
            device_id=device_id_of(request),
        )
        return Response(self.get_serializer(delegations_visible_to(user=request.user).get(pk=delegation.pk)).data)

    @extend_schema(
        summary="May the caller decide this item on site for this department at `at`?",
        parameters=[DelegationCheckQuerySerializer],
        responses={200: DelegationCheckSerializer, 403: OpenApiResponse(description=CHECK_REFUSALS)},
    )
    @action(detail=False, methods=["get"])
    def check(self, request: Request) -> Response:
        query = DelegationCheckQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        delegation = delegation_check(
            user=request.user, department=data["department"], item=data["item"], at=data.get("at") or timezone.now()
        )
        answer = {"allowed": True, "delegation": delegation.pk, "valid_to": delegation.valid_to}
        return Response(DelegationCheckSerializer(answer).data, status=status.HTTP_200_OK)


# --- on-site intake, decision, certificate -----------------------------------------------------

INTAKE_INVALID = (
    "`validation_error`, `item_not_in_case`, `item_not_accepted_on_site` (the catalogue), "
    "`invalid_checklist` (per entry: a material not of the item, a scan not of it, a material that may not be "
    "promised, a missing or past `promised_by`), `materials_incomplete` (required materials neither scanned nor "
    "promised)."
)
DECISION_INVALID = (
    "`validation_error`, `intake_not_in_case`, `reason_required` (a refusal), `tolerance_required` (promised "
    "materials outstanding: approve_with_tolerance), `no_tolerance_materials`."
)
DECISION_REFUSED = "Not a delegate for this item now: " + CHECK_REFUSALS


class OnsiteIntakeFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    item = django_filters.UUIDFilter(field_name="item_id")

    class Meta:
        model = OnsiteIntake
        fields = ["case", "item"]


@extend_schema_view(
    list=extend_schema(summary="On-site intakes (现场受理)"),
    create=extend_schema(
        summary="Accept an application on site with its materials checklist",
        responses={
            201: OnsiteIntakeSerializer,
            200: OnsiteIntakeSerializer,
            400: OpenApiResponse(description=INTAKE_INVALID),
        },
    ),
    partial_update=extend_schema(
        summary="Correct the note, applicant or visit (the checklist is fixed)",
        responses={200: OnsiteIntakeSerializer, 409: OpenApiResponse(description="`intake_decided`, `record_locked`.")},
    ),
    destroy=extend_schema(
        summary="Withdraw an intake not yet decided",
        responses={204: None, 409: OpenApiResponse(description="`intake_decided`.")},
    ),
)
class OnsiteIntakeViewSet(FieldRecordViewSet):
    serializer_class = OnsiteIntakeSerializer
    selector = staticmethod(onsite_intakes_visible_to)
    record_type = "onsite_intake"
    filterset_class = OnsiteIntakeFilter


class OnsiteDecisionFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    intake = django_filters.UUIDFilter(field_name="intake_id")
    outcome = django_filters.ChoiceFilter(choices=DecisionOutcome.choices)

    class Meta:
        model = OnsiteDecision
        fields = ["case", "intake", "outcome"]


@extend_schema_view(
    list=extend_schema(summary="On-site decisions (现场审批)"),
    create=extend_schema(
        summary="Decide an accepted item on site (a delegate of its department); an approval issues the certificate",
        responses={
            201: OnsiteDecisionSerializer,
            200: OnsiteDecisionSerializer,
            400: OpenApiResponse(description=DECISION_INVALID),
            403: OpenApiResponse(description=DECISION_REFUSED),
            409: OpenApiResponse(description="`already_decided`, `id_conflict`."),
        },
    ),
    reopen=extend_schema(
        summary="Refused: an on-site decision is final",
        responses={409: OpenApiResponse(description="`decision_final`.")},
    ),
)
class OnsiteDecisionViewSet(FieldRecordViewSet):
    """Final once made: no change, no deletion, no reopening."""

    serializer_class = OnsiteDecisionSerializer
    selector = staticmethod(onsite_decisions_visible_to)
    record_type = "onsite_decision"
    filterset_class = OnsiteDecisionFilter
    reopen_service = staticmethod(onsite_decision_reopen)
    http_method_names = ["get", "post", "head", "options"]


class CertificateFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    department = django_filters.UUIDFilter(field_name="department_id")
    year = django_filters.NumberFilter(field_name="year")

    class Meta:
        model = Certificate
        fields = ["case", "department", "year"]


@extend_schema_view(
    list=extend_schema(summary="Certificates (证照) issued by on-site approvals"),
    retrieve=extend_schema(summary="A certificate"),
)
class CertificateViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Certificate.objects.none()  # scoped per request in get_queryset
    serializer_class = CertificateSerializer
    filterset_class = CertificateFilter

    def get_queryset(self):
        return certificates_visible_to(user=self.request.user)

    def perform_content_negotiation(self, request, force=False):
        # `file` answers a PDF built here; errors are problem+json whatever Accept says.
        if getattr(self, "action", None) == "file":
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force=force)

    @extend_schema(
        summary="The certificate as an A4 PDF (Chinese text, QR code to the public verification page)",
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def file(self, request: Request, pk=None) -> HttpResponse:
        certificate = self.get_object()
        pdf = certificate_pdf(certificate=certificate, verify_url=certificate_verify_url(request, certificate))
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="certificate-{certificate.number}.pdf"'
        response["Cache-Control"] = "private, no-store"
        return response
