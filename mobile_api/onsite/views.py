from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backend.onsite.models import Delegation, OnsiteItem
from backend.onsite.selectors import delegation_check, delegations_visible_to, onsite_items_visible_to
from backend.onsite.services import (
    delegation_grant,
    delegation_revoke,
    onsite_item_create,
    onsite_item_delete,
    onsite_item_update,
)
from mobile_api.accounts.permissions import IsAdministratorOrReadOnly
from mobile_api.onsite.serializers import (
    DelegationCheckQuerySerializer,
    DelegationCheckSerializer,
    DelegationSerializer,
    OnsiteItemSerializer,
    RevokeSerializer,
)
from mobile_api.records.views import device_id_of

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
