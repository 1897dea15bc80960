from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts import selectors, services
from backend.accounts.login import LoginThrottled, login_limited
from backend.accounts.models import DeviceToken, Organization, User
from mobile_api.accounts.permissions import IsAdministratorOrReadOnly
from mobile_api.accounts.serializers import (
    LoginSerializer,
    OrganizationSerializer,
    TokenSerializer,
    UserSerializer,
)
from mobile_api.exceptions import PROBLEM_RESPONSES, ProblemSerializer


class TokenView(APIView):
    """`POST auth/token`: a token for this device; a new login on the same device revokes the old token."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="auth_token_create",
        summary="Log in and get a device token",
        request=LoginSerializer,
        responses={
            200: TokenSerializer,
            (400, "application/problem+json"): ProblemSerializer,
            (401, "application/problem+json"): OpenApiResponse(ProblemSerializer, description="invalid_credentials"),
            (429, "application/problem+json"): OpenApiResponse(ProblemSerializer, description="throttled"),
        },
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            raw, token = login_limited(
                request,
                username=str(request.data.get("username", "")),
                verify=lambda: services.device_token_login(
                    username=data["username"],
                    password=data["password"],
                    device_id=data["device_id"] or None,
                    device_name=data["device_name"],
                ),
                is_failure=lambda error: getattr(error, "code", None) == "invalid_credentials",
            )
        except LoginThrottled as throttled:
            self.throttled(request, throttled.retry_after)
        body = TokenSerializer(
            {"token": raw, "expires_at": token.expires_at, "device_id": token.device_id, "user": token.user}
        )
        return Response(body.data, status=status.HTTP_200_OK)


class LogoutView(APIView):
    """`POST auth/logout`: revoke the token this request was made with."""

    @extend_schema(
        operation_id="auth_logout",
        summary="Revoke the current device token",
        request=None,
        responses={204: None, **PROBLEM_RESPONSES},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, DeviceToken):
            services.device_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="List organisations (every signed-in user)"),
    create=extend_schema(summary="Create an organisation (administrators)"),
    partial_update=extend_schema(summary="Change an organisation (administrators)"),
    update=extend_schema(summary="Replace an organisation (administrators)"),
    destroy=extend_schema(summary="Delete an organisation nothing refers to (administrators); else 409 in_use"),
)
class OrganizationViewSet(viewsets.ModelViewSet):
    queryset = Organization.objects.none()  # the real one is scoped per request in get_queryset
    serializer_class = OrganizationSerializer
    permission_classes = [permissions.IsAuthenticated, IsAdministratorOrReadOnly]
    filterset_fields = ["kind", "region"]

    def get_queryset(self):
        return selectors.organizations_visible_to(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.organization_create(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.organization_update(
            by=self.request.user, organization=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.organization_delete(by=self.request.user, organization=instance)


@extend_schema_view(
    list=extend_schema(summary="List users (administrators: all; others: only themselves)"),
    create=extend_schema(summary="Create a user (administrators)"),
    partial_update=extend_schema(summary="Change a user (administrators); a new password revokes their tokens"),
    update=extend_schema(summary="Replace a user (administrators)"),
    destroy=extend_schema(summary="Delete a user without records (administrators); else 409 in_use"),
)
class UserViewSet(viewsets.ModelViewSet):
    queryset = User.objects.none()  # the real one is scoped per request in get_queryset
    serializer_class = UserSerializer
    permission_classes = [permissions.IsAuthenticated, IsAdministratorOrReadOnly]
    filterset_fields = ["organization", "is_active"]

    def get_queryset(self):
        return selectors.users_visible_to(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.user_create(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.user_update(
            by=self.request.user, user=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.user_delete(by=self.request.user, user=instance)

    @extend_schema(summary="The signed-in user", responses={200: UserSerializer, **PROBLEM_RESPONSES})
    @action(detail=False, methods=["get"], url_path="me")
    def me(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)
